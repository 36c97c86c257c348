; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
; expect: map-helper
*(u32 *)(r10 - 4) = 1
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = 0
exit

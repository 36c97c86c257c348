; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
*(u64 *)(r10 - 8) = 1
ld_pseudo r1, 1, 0
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r0 = 0
exit

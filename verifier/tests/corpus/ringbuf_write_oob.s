; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
; expect: mem-bounds
ld_pseudo r1, 1, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto +5
r1 = 7
*(u64 *)(r0 + 12) = r1
r1 = r0
r2 = 0
call 133
r0 = 0
exit

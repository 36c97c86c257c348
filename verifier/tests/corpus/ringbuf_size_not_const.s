; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
; expect: helper-arg
r2 = *(u32 *)(r1 + 0)
r2 &= 15
ld_pseudo r1, 1, 0
r3 = 0
call 131
if r0 == 0 goto +3
r1 = r0
r2 = 0
call 133
r0 = 0
exit

; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
; expect: bad-deref
ld_pseudo r1, 1, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto +6
r6 = r0
r1 = r0
r2 = 0
call 132
r0 = *(u64 *)(r6 + 0)
exit
r0 = 0
exit

; type: socket_filter
; expect: helper-arg
r4 = *(u32 *)(r1 + 0)
r2 = 0
r3 = r10
r3 += -16
call 26
r0 = 0
exit

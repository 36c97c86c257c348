; type: socket_filter
; expect: helper-arg
*(u32 *)(r10 - 4) = 1
r2 = r10
r2 += -4
r1 = 0
call 1
r0 = 0
exit

; type: socket_filter
; expect: stack-access
r1 = r10
r1 += -8
call local f
r0 = 0
exit
f:
r0 = *(u64 *)(r1 + 8)
exit

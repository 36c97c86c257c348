; type: socket_filter
; expect: return-stack
call local f
r0 = 0
exit
f:
r0 = r10
r0 += -8
exit

; type: socket_filter
; expect: unreachable
r0 = 0
exit
r0 = 1
exit

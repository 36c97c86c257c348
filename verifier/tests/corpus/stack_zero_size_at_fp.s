; type: socket_filter
; expect: stack-access
r1 = r10
r2 = 0
r3 = 0
call 113
r0 = 0
exit

; type: socket_filter
; expect: helper-unavailable
r2 = 4
call 44
r0 = 0
exit

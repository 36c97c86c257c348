; type: socket_filter
; expect: helper-unavailable
call 999
r0 = 0
exit

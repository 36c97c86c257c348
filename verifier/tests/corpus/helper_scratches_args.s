; type: socket_filter
; expect: uninit-reg
call 7
r0 = r1
exit

; type: socket_filter
; expect: uninit-reg
r0 = r5
exit

; type: socket_filter
; expect: frame-pointer
r10 = 0
r0 = 0
exit

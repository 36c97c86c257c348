; type: socket_filter
; expect: div-by-zero
r0 = 5
r0 /= 0
exit

; type: socket_filter
; expect: bad-shift
r0 = 5
r0 <<= 64
exit

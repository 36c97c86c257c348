; type: socket_filter
; expect: bad-shift
w0 = 5
w0 >>= 32
exit

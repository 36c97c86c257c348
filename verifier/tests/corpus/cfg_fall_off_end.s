; type: socket_filter
; expect: cfg
r0 = 0

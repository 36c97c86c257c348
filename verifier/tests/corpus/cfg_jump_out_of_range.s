; type: socket_filter
; expect: cfg
r0 = 0
if r0 == 0 goto +5
exit

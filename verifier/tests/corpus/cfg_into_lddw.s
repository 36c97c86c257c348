; type: socket_filter
; expect: cfg
r0 = 0
if r0 == 0 goto +1
r1 = 0x100000000 ll
exit

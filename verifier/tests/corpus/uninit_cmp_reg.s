; type: socket_filter
; expect: uninit-reg
r0 = 0
if r4 > 3 goto +0
exit

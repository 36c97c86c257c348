; type: socket_filter
; expect: uninit-reg
r1 = 7
call local f
r0 = r1
exit
f:
r0 = 1
exit

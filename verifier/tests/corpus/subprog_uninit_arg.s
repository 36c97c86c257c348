; type: socket_filter
; expect: uninit-reg
call local f
exit
f:
r0 = r3
exit

; type: socket_filter
; expect: call-depth
r1 = 1
call local f
r0 = 0
exit
f:
call local f
r0 = 0
exit

; type: socket_filter
; expect: call-depth
r1 = 0
call local f
exit
f:
r1 += 1
r0 = r1
if r1 > 3 goto +1
call local f
exit

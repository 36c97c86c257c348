; type: socket_filter
r6 = 7
call local f
r0 += r6
exit
f:
r6 = 100
r0 = 1
exit

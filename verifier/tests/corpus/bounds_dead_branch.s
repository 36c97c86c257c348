; type: socket_filter
r1 = 5
if r1 > 10 goto +1
r0 = 0
exit

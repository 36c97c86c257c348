; type: socket_filter
r2 = r10
r0 = 0
if r2 > r1 goto +1
r0 = 1
exit

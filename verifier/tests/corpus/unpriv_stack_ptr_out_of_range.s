; type: socket_filter
r1 = r10
r1 += 8
r0 = 0
exit

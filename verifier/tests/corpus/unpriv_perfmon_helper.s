; type: socket_filter
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call 113
r0 = 0
exit

; type: socket_filter
r0 = 5
r1 = 0
r0 /= r1
r0 %= r1
exit

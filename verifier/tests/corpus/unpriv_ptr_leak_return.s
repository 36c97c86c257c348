; type: socket_filter
r0 = r10
exit

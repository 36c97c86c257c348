; type: socket_filter
r6 = 9
call 7
r0 = r6
exit

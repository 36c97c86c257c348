; type: socket_filter
r1 = 3
call local add_one
exit
add_one:
r0 = r1
r0 += 1
exit

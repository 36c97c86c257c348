; type: socket_filter
*(u64 *)(r10 - 8) = 0
r1 = r10
r1 += -16
r2 = 16
call 6
r0 = 0
exit

; type: socket_filter
r2 = r10
r2 += -16
r3 = 7
*(u64 *)(r2 + 8) = r3
r0 = *(u64 *)(r10 - 8)
exit

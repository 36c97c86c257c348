; type: socket_filter
r1 = 0
*(u64 *)(r10 - 8) = r1
r2 = 1
lock *(u64 *)(r10 - 8) += r2
r0 = *(u64 *)(r10 - 8)
exit

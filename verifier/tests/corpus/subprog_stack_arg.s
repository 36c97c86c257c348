; type: socket_filter
r1 = r10
r1 += -8
call local fill
r0 = *(u64 *)(r10 - 8)
exit
fill:
r2 = 5
*(u64 *)(r1 + 0) = r2
r0 = 0
exit

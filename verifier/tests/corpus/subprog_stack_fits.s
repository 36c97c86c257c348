; type: socket_filter
r1 = 0
*(u64 *)(r10 - 256) = r1
call local f
r0 = 0
exit
f:
r1 = 0
*(u64 *)(r10 - 200) = r1
r0 = 0
exit

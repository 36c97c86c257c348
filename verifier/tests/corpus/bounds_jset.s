; type: socket_filter
r1 = *(u32 *)(r1 + 0)
r1 &= 6
if r1 & 8 goto +2
r0 = 0
exit
r0 = *(u64 *)(r1 + 0)
exit

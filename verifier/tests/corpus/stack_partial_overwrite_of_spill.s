; type: socket_filter
*(u64 *)(r10 - 8) = r1
r0 = 0x12345678
*(u32 *)(r10 - 4) = r0
r0 = *(u64 *)(r10 - 8)
r0 = 0
exit

; type: socket_filter
r2 = *(u32 *)(r1 + 0)
r3 = *(u16 *)(r1 + 16)
r4 = *(u8 *)(r1 + 8)
*(u32 *)(r1 + 48) = r2
r0 = r3
exit

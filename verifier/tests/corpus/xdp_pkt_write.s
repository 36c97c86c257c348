; type: xdp
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 6
r0 = 1
if r4 > r3 goto +3
*(u16 *)(r2 + 0) = 0
*(u32 *)(r2 + 2) = 7
r0 = 3
exit

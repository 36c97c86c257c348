; type: xdp
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 8
r0 = 1
if r3 >= r4 goto +1
exit
r0 = *(u64 *)(r2 + 0)
exit

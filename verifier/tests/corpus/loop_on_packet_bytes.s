; type: xdp
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = 2
r5 = 0
r4 = r2
r4 += 1
if r4 > r3 goto +4
r2 = r4
r5 += 1
if r5 < 64 goto -6
exit
exit

; type: cgroup_skb
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 1
r0 = 1
if r4 > r3 goto +2
r0 = *(u8 *)(r2 + 0)
r0 &= 1
exit

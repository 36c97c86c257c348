; type: sched_cls
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 14
r0 = 0
if r4 > r3 goto +3
r5 = *(u16 *)(r2 + 12)
*(u8 *)(r2 + 0) = r5
r0 = 1
exit

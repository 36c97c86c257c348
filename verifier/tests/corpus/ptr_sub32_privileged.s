; type: sched_cls
r8 = *(u32 *)(r1 + 80)
r7 = *(u32 *)(r1 + 76)
r6 = r7
r6 += 40
if r6 > r8 goto +2
w4 = w7
w6 -= w4
r0 = 0
exit

; type: sched_cls
r6 = *(u32 *)(r1 + 76)
r7 = *(u32 *)(r1 + 80)
r1 = r6
r6 += 8
if r6 > r7 goto +5
r2 = 8
r3 = 0
r4 = 0
r5 = 0
call 28
r0 = 0
exit

; type: sched_cls
; expect: helper-arg
r6 = *(u32 *)(r1 + 76)
r7 = *(u32 *)(r1 + 80)
r3 = r6
r6 += 8
if r6 > r7 goto +3
r2 = 0
r4 = 4
call 26
r0 = 0
exit

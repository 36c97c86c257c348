; type: sched_cls
; expect: helper-arg
r2 = *(u32 *)(r1 + 0)
r1 = 0
r2 &= 64
r3 = 0
r4 = 0
r5 = 0
call 28
exit

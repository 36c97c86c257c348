; type: sched_cls
; expect: ctx-access
r0 = *(u32 *)(r1 + 88)
exit

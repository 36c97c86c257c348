; type: tracepoint
; expect: ctx-access
r0 = *(u32 *)(r1 + 4)
r0 = 0
exit

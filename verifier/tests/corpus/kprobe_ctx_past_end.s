; type: kprobe
; expect: ctx-access
r0 = *(u64 *)(r1 + 168)
r0 = 0
exit

; type: kprobe
; expect: ctx-access
r2 = 0
*(u64 *)(r1 + 112) = r2
r0 = 0
exit

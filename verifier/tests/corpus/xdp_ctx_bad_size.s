; type: xdp
; expect: ctx-access
r2 = *(u64 *)(r1 + 0)
r0 = 2
exit

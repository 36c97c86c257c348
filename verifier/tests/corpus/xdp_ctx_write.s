; type: xdp
; expect: ctx-access
r2 = 5
*(u32 *)(r1 + 12) = r2
r0 = 2
exit

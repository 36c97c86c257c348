; type: xdp
; expect: ctx-access
r0 = *(u32 *)(r1 + 24)
exit

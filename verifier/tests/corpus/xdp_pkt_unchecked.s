; type: xdp
; expect: pkt-bounds
r2 = *(u32 *)(r1 + 0)
r0 = *(u8 *)(r2 + 0)
exit

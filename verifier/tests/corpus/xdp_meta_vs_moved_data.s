; type: xdp
; expect: pkt-bounds
r2 = *(u32 *)(r1 + 8)
r3 = *(u32 *)(r1 + 0)
r0 = r3
r0 += 8
r4 = r2
r4 += 8
if r4 > r0 goto +1
r0 = *(u8 *)(r2 + 0)
r0 = 0
exit

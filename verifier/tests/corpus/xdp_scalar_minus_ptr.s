; type: xdp
; expect: ptr-arith
r2 = *(u32 *)(r1 + 0)
r0 = 5
r0 -= r2
exit

; type: xdp
; expect: ptr-arith
r2 = *(u32 *)(r1 + 0)
r2 &= 255
r0 = 2
exit

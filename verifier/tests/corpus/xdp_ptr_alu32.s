; type: xdp
; expect: ptr-arith
r2 = *(u32 *)(r1 + 0)
w2 += 1
r0 = 2
exit

; type: xdp
; expect: bad-deref
r3 = *(u32 *)(r1 + 4)
r0 = *(u8 *)(r3 - 1)
exit

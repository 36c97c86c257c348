; type: xdp
; expect: bad-deref
r6 = r1
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
r0 = 1
if r4 > r3 goto +6
r7 = r2
r1 = r6
r2 = 4
call 44
r0 = *(u8 *)(r7 + 0)
exit
exit

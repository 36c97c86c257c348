; type: xdp
; map: h hash key=4 value=8 entries=16
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 4
r0 = 2
if r4 > r3 goto +3
ld_pseudo r1, 1, 0
call 1
r0 = 2
exit

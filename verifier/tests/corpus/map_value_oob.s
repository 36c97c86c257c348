; type: socket_filter
; map: h hash key=4 value=8 entries=16
; expect: map-bounds
*(u32 *)(r10 - 4) = 1
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +1
r0 = *(u32 *)(r0 + 6)
r0 = 0
exit

; type: socket_filter
; map: a array key=4 value=16 entries=1
; expect: map-bounds
r6 = *(u32 *)(r1 + 0)
r6 &= 7
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +2
r0 += r6
r0 = *(u64 *)(r0 + 4)
r0 = 0
exit

; type: socket_filter
; map: a array key=4 value=16 entries=1
; expect: unbounded
r6 = *(u32 *)(r1 + 0)
r6 <<= 32
r7 = *(u32 *)(r1 + 4)
r6 |= r7
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +3
if w6 > 15 goto +2
r0 += r6
r0 = *(u8 *)(r0 + 0)
r0 = 0
exit

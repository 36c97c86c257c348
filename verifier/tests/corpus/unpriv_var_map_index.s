; type: socket_filter
; map: a array key=4 value=16 entries=1
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +4
r1 = *(u8 *)(r0 + 0)
r1 &= 15
r0 += r1
r0 = *(u8 *)(r0 + 0)
r0 = 0
exit

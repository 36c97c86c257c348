; type: socket_filter
; map: a array key=4 value=16 entries=1
r7 = r1
r6 = 3
*(u64 *)(r10 - 16) = r6
*(u64 *)(r10 - 8) = r6
r4 = *(u32 *)(r1 + 0)
r4 &= 7
r4 += 1
r2 = 0
r3 = r10
r3 += -16
r1 = r7
call 26
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +3
r1 = *(u64 *)(r10 - 16)
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit

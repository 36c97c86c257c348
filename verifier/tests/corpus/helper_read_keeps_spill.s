; type: socket_filter
; map: a array key=4 value=16 entries=1
r6 = 0
*(u64 *)(r10 - 8) = r6
r2 = r10
r2 += -8
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +3
r1 = *(u64 *)(r10 - 8)
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit

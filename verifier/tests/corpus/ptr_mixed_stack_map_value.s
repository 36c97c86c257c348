; type: socket_filter
; map: a array key=4 value=8 entries=1
; One load reaches the stack on one path and a map value on the other:
; neither kind is rewritten, so the kernel accepts it.
*(u32 *)(r10 - 4) = 0
*(u64 *)(r10 - 16) = 0
r6 = *(u32 *)(r1 + 0)
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +4
r2 = r10
r2 += -16
if r6 > 10 goto +1
r2 = r0
r0 = *(u64 *)(r2 + 0)
r0 = 0
exit

; type: socket_filter
; map: a array key=4 value=8 entries=1
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +3
r1 = 1
r1 = atomic_fetch_add((u64 *)(r0 + 0), r1)
r0 = r1
exit

; type: socket_filter
; map: a array key=4 value=8 entries=4
; The key is a spilled 4-byte constant (2) below max_entries (4).
r1 = 2
*(u32 *)(r10 - 8) = w1
r2 = r10
r2 += -8
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit

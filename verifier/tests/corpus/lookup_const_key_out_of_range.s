; type: socket_filter
; map: a array key=4 value=8 entries=4
; expect: null-deref
; The key (4) is known but not below max_entries: the lookup may miss.
r1 = 4
*(u32 *)(r10 - 8) = w1
r2 = r10
r2 += -8
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit

; type: socket_filter
; map: p percpu_array key=4 value=8 entries=2
; A per-CPU array's lookup with a known in-range key cannot miss either.
*(u32 *)(r10 - 4) = 1
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit

; type: socket_filter
; map: h hash key=4 value=8 entries=4
; expect: null-deref
; Only arrays cannot miss: a hash lookup with a known key still may.
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit

; type: socket_filter
; map: h hash key=4 value=8 entries=16
*(u32 *)(r10 - 4) = 1
*(u64 *)(r10 - 16) = 42
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 0
ld_pseudo r1, 1, 0
call 2
r0 = 0
exit

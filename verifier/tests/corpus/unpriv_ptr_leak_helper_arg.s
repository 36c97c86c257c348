; type: socket_filter
; map: a array key=4 value=8 entries=1
*(u32 *)(r10 - 4) = 0
*(u64 *)(r10 - 16) = 0
r2 = r10
r2 += -4
r3 = r10
r3 += -16
ld_pseudo r1, 1, 0
r4 = r10
call 2
r0 = 0
exit

; type: socket_filter
; map: q queue key=0 value=8 entries=16
*(u64 *)(r10 - 8) = 5
ld_pseudo r1, 1, 0
r2 = r10
r2 += -8
r3 = 0
call 87
ld_pseudo r1, 1, 0
r2 = r10
r2 += -16
call 88
r0 = *(u64 *)(r10 - 16)
exit

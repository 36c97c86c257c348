; type: socket_filter
; map: a array key=4 value=8 entries=4
; The key is stored as an immediate (BPF_ST) at a slot's start.
*(u32 *)(r10 - 8) = 1
r2 = r10
r2 += -8
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit

; type: socket_filter
; expect: stack-access
r0 = 0
*(u64 *)(r10 - 16) = r0
*(u64 *)(r10 - 8) = r0
r1 = *(u32 *)(r1 + 0)
r1 &= 63
r1 += -16
r1 += r10
r2 = 0
r3 = 0
call 113
exit

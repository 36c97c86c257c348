; type: socket_filter
call 5
*(u64 *)(r10 - 8) = r0
r2 = *(u32 *)(r10 - 8)
w3 = w2
if w2 < 9 goto +1
exit
if r3 < 9 goto +1
r0 -= r1
exit

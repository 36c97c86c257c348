; type: xdp
call 7
r0 &= 0x80000000
r0 <<= 32
*(u64 *)(r10 - 8) = r0
r1 = *(u64 *)(r10 - 8)
r2 = 0
if r1 != r2 goto +2
if r0 == r2 goto +1
r0 = *(u64 *)(r9 + 0)
r0 = 0
exit

; type: xdp
call 7
r0 = (s8)r0
r1 = 0xffffffffffffff00 ll
if r0 > r1 goto +2
if r0 < 128 goto +1
r0 = *(u64 *)(r9 + 0)
r0 = 0
exit

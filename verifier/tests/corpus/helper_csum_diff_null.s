; type: xdp
*(u32 *)(r10 - 4) = 1
r1 = 0
r2 = 0
r3 = r10
r3 += -4
r4 = 4
r5 = 0
call 28
r0 = 2
exit

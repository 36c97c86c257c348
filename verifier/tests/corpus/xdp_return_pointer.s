; type: xdp
r0 = *(u32 *)(r1 + 0)
exit

; type: kprobe
r0 = *(u64 *)(r1 + 112)
r0 = 0
exit

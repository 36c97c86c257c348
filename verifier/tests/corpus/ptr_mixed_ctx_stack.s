; type: socket_filter
; expect: mixed-pointers
; One load reaches the context on one path and the stack on the other:
; the kernel rewrites context loads per instruction, so it refuses this.
r0 = *(u32 *)(r1 + 0)
r3 = 0
*(u64 *)(r10 - 8) = r3
r2 = r10
r2 += -8
if r0 > 10 goto +1
r2 = r1
r0 = *(u32 *)(r2 + 0)
r0 = 0
exit

; type: socket_filter
; expect: ptr-arith
r0 = 0
r1 = r10
r1 -= 8
*(u64 *)(r1 + 0) = r0
exit

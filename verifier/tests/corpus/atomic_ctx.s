; type: socket_filter
; expect: bad-deref
r2 = 1
lock *(u32 *)(r1 + 0) += r2
r0 = 0
exit

; type: socket_filter
; expect: stack-access
r1 = 0
*(u32 *)(r10 + 0) = r1
r0 = 0
exit

; type: socket_filter
; expect: stack-access
r1 = 0
*(u32 *)(r10 - 6) = r1
r0 = 0
exit

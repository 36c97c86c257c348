; type: socket_filter
; expect: stack-access
r1 = 0
*(u64 *)(r10 - 520) = r1
r0 = 0
exit

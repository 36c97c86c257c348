; type: socket_filter
; expect: ctx-access
r0 = *(u32 *)(r1 + 76)
exit

; type: socket_filter
; map: data array key=4 value=32 entries=1
ld_pseudo r1, 2, 0, 8
r0 = *(u64 *)(r1 + 16)
exit

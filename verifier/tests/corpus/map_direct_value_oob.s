; type: socket_filter
; map: data array key=4 value=32 entries=1
; expect: map-bounds
ld_pseudo r1, 2, 0, 8
r0 = *(u64 *)(r1 + 24)
exit

; type: socket_filter
; map: ro array key=4 value=8 entries=1 flags=0x80
; expect: map-bounds
ld_pseudo r1, 2, 0, 0
r2 = 1
*(u64 *)(r1 + 0) = r2
r0 = 0
exit

; type: socket_filter
; map: h hash key=4 value=8 entries=16
; expect: ptr-arith
ld_pseudo r1, 1, 0
r1 += 8
r0 = 0
exit

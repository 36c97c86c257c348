; type: xdp
; map: h hash key=4 value=4 entries=4
; expect: map-helper
ld_pseudo r1, 1, 0
r2 = 0
r3 = 0
call 51
exit

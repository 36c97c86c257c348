; type: socket_filter
; map: h hash key=4 value=4 entries=4
; expect: map-helper
ld_pseudo r2, 1, 0
r3 = 1
call 12
r0 = 0
exit

; type: socket_filter
; map: q queue key=0 value=8 entries=16
; expect: map-helper
r2 = r10
r2 += -8
ld_pseudo r1, 1, 0
call 1
r0 = 0
exit

; type: socket_filter
; map: h hash key=8 value=8 entries=16
; expect: stack-access
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = 0
exit

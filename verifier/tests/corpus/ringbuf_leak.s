; type: socket_filter
; map: rb ringbuf key=0 value=0 entries=4096
; expect: ref-leak
ld_pseudo r1, 1, 0
r2 = 16
r3 = 0
call 131
r0 = 0
exit

; type: socket_filter
; map: jmp prog_array key=4 value=4 entries=4
ld_pseudo r2, 1, 0
r3 = 1
call 12
r0 = 0
exit

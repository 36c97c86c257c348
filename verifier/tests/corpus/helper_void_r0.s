; type: socket_filter
; map: jmp prog_array key=4 value=4 entries=4
; expect: uninit-reg
ld_pseudo r2, 1, 0
r3 = 0
call 12
exit

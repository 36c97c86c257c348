; type: socket_filter
; expect: bad-insn
r1 = 7
callx r1
r0 = 0
exit

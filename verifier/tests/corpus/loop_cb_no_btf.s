; A callback (a function's address, lddw with BPF_PSEUDO_FUNC) needs the
; program's BTF func info: the kernel checks the callback is static.
; type: xdp
; expect: bad-insn
r1 = 4
ld_pseudo r2, 4, 6
r3 = 0
r4 = 0
call 181
r0 = 2
exit
r0 = 0
exit

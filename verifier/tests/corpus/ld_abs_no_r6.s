; type: socket_filter
; expect: bad-insn
r0 = *(u16 *)skb[12]
exit

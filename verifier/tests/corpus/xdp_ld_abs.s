; type: xdp
; expect: bad-insn
r6 = r1
r0 = *(u8 *)skb[12]
exit

; type: socket_filter
; expect: cfg
r6 = r1
call local f
exit
f:
r0 = *(u8 *)skb[0]
exit

; type: socket_filter
r6 = r1
r0 = *(u8 *)skb[0]
call local f
r0 = 0
exit
f:
r0 = 0
exit

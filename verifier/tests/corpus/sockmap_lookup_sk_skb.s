; type: sk_skb
; map: socks sockmap key=4 value=4 entries=4
; expect: unsupported
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = 0
exit

; type: cgroup_skb
; expect: return-range
r0 = *(u32 *)(r1 + 0)
exit

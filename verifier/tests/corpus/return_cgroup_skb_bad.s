; type: cgroup_skb
; expect: return-range
r0 = 2
exit

; type: cgroup_skb
; attach: cgroup_inet_egress
r0 = 3
exit

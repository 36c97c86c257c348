; type: cgroup_skb
r0 = 1
exit

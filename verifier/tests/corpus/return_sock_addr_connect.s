; type: cgroup_sock_addr
; attach: cgroup_inet4_connect
; expect: return-range
r0 = 2
exit

; type: cgroup_sock_addr
; attach: cgroup_inet4_bind
r0 = 3
exit

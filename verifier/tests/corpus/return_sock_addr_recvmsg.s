; type: cgroup_sock_addr
; attach: cgroup_udp4_recvmsg
; expect: return-range
r0 = 0
exit

// SPDX-License-Identifier: GPL-2.0
// One trivial program per section-name convention libbpf knows and the
// kernel loads without an attach target: the loader gives each its program
// type, expected attach type and flags from the section name alone.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name) \
	SEC(sec) int name(void *ctx) { return 1; }

PROG("socket", p_socket)
PROG("tc", p_tc)
PROG("classifier", p_classifier)
PROG("tcx/ingress", p_tcx_ingress)
PROG("tc/egress", p_tc_egress)
PROG("action", p_action)
PROG("kprobe/do_unlinkat", p_kprobe)
PROG("kretprobe/do_unlinkat", p_kretprobe)
PROG("uprobe", p_uprobe)
PROG("tracepoint/syscalls/sys_enter_openat", p_tracepoint)
PROG("tp/sched/sched_switch", p_tp)
PROG("raw_tp/sched_switch", p_raw_tp)
PROG("raw_tracepoint.w/bpf_test_finish", p_raw_tp_w)
PROG("xdp.frags", p_xdp_frags)
PROG("xdp/devmap", p_xdp_devmap)
PROG("xdp/cpumap", p_xdp_cpumap)
PROG("perf_event", p_perf_event)
PROG("lwt_in", p_lwt_in)
PROG("lwt_xmit", p_lwt_xmit)
PROG("sockops", p_sockops)
PROG("sk_skb/stream_parser", p_sk_skb_parser)
PROG("sk_skb/stream_verdict", p_sk_skb_verdict)
PROG("sk_msg", p_sk_msg)
PROG("flow_dissector", p_flow_dissector)
PROG("cgroup_skb/ingress", p_cgroup_skb_ingress)
PROG("cgroup_skb/egress", p_cgroup_skb_egress)
PROG("cgroup/sock_create", p_cgroup_sock_create)
PROG("cgroup/connect4", p_cgroup_connect4)
PROG("cgroup/sendmsg6", p_cgroup_sendmsg6)
PROG("cgroup/dev", p_cgroup_dev)
PROG("cgroup/sysctl", p_cgroup_sysctl)
PROG("cgroup/getsockopt", p_cgroup_getsockopt)
PROG("sk_lookup", p_sk_lookup)
PROG("sk_reuseport", p_sk_reuseport)
PROG("syscall", p_syscall)

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// The README's example: counts packets per IP protocol (ICMP, TCP, UDP, ...;
// key 0 for frames that are not IPv4/IPv6) and drops ICMP and ICMPv6.
//
//   clang-19 -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c xdp_count.c -o xdp_count.o
//   bpfx run xdp_count.o --pcap traffic.pcap

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 proto = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		proto = ip->protocol;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		proto = ip6->nexthdr;
	}

	__u64 *count = bpf_map_lookup_elem(&counts, &proto);
	if (count)
		__sync_fetch_and_add(count, 1);
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

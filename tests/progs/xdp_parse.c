// SPDX-License-Identifier: GPL-2.0
// An XDP packet parser: walks Ethernet (with up to two VLAN tags), IPv4
// (with options) or IPv6, and TCP/UDP; counts packets and bytes per
// protocol in a per-CPU array, counts TCP SYNs and UDP port 53 separately,
// and drops ICMP and ICMPv6.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct stats {
	__u64 packets;
	__u64 bytes;
};

enum { KEY_OTHER = 0, KEY_SYN = 256, KEY_DNS = 257, NKEYS = 258 };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NKEYS);
	__type(key, __u32);
	__type(value, struct stats);
} proto_stats SEC(".maps");

static __always_inline void count(__u32 key, __u64 len)
{
	struct stats *s = bpf_map_lookup_elem(&proto_stats, &key);
	if (s) {
		s->packets++;
		s->bytes += len;
	}
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u16 h_proto;
	__u8 proto;

	if (cursor > data_end)
		return XDP_ABORTED;
	h_proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct vlan_hdr *vlan = cursor;
		if (h_proto != bpf_htons(ETH_P_8021Q) && h_proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > data_end)
			return XDP_ABORTED;
		h_proto = vlan->encapsulated_proto;
		cursor = vlan + 1;
	}

	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;
		if ((void *)(ip + 1) > data_end)
			return XDP_ABORTED;
		if (ip->ihl < 5)
			return XDP_DROP;
		proto = ip->protocol;
		cursor = (void *)ip + ip->ihl * 4;
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_ABORTED;
		proto = ip6->nexthdr;
		cursor = ip6 + 1;
	} else {
		count(KEY_OTHER, len);
		return XDP_PASS;
	}

	count(proto, len);
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return XDP_DROP;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = cursor;
		if ((void *)(tcp + 1) <= data_end && tcp->syn && !tcp->ack)
			count(KEY_SYN, len);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = cursor;
		if ((void *)(udp + 1) <= data_end && udp->dest == bpf_htons(53))
			count(KEY_DNS, len);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

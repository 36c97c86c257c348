// SPDX-License-Identifier: GPL-2.0
// A tc classifier that rewrites a field: marks every IPv4 packet's DSCP as
// expedited forwarding (46), fixing the header checksum with
// bpf_l3_csum_replace, and sets skb->mark so later stages can see it.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define DSCP_EF 46
#define IP_OFF sizeof(struct ethhdr)
#define TOS_OFF (IP_OFF + __builtin_offsetof(struct iphdr, tos))
#define CSUM_OFF (IP_OFF + __builtin_offsetof(struct iphdr, check))

SEC("tc")
int tc_rewrite(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	__u8 old_tos = ip->tos;
	__u8 new_tos = (DSCP_EF << 2) | (old_tos & 3);
	if (old_tos == new_tos)
		return TC_ACT_OK;

	// The checksum covers 16-bit words: tos is the low byte of the first.
	__be16 old_word = bpf_htons((ip->version << 12) | (ip->ihl << 8) | old_tos);
	__be16 new_word = bpf_htons((ip->version << 12) | (ip->ihl << 8) | new_tos);
	if (bpf_l3_csum_replace(skb, CSUM_OFF, old_word, new_word, sizeof(__u16)) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, TOS_OFF, &new_tos, sizeof(new_tos), 0) < 0)
		return TC_ACT_SHOT;
	skb->mark = 0xef;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// A socket filter in the classic style: legacy packet loads (BPF_ABS with
// constant offsets, BPF_IND past a variable-length IPv4 header) keep only
// UDP datagrams to port 53 and truncate them to 512 bytes.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

SEC("socket")
int socket_filter(struct __sk_buff *skb)
{
	if (load_half(skb, __builtin_offsetof(struct ethhdr, h_proto)) != ETH_P_IP)
		return 0;
	if (load_byte(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, protocol)) != IPPROTO_UDP)
		return 0;
	// A fragment's payload does not start with the UDP header.
	if (load_half(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, frag_off)) & 0x1fff)
		return 0;
	__u64 ihl = (load_byte(skb, ETH_HLEN) & 0xf) * 4;
	if (load_half(skb, ETH_HLEN + ihl + 2) != 53)
		return 0;
	return skb->len < 512 ? skb->len : 512;
}

char LICENSE[] SEC("license") = "GPL";

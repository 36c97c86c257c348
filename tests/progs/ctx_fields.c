// SPDX-License-Identifier: GPL-2.0
// Context fields for the replay's kernel comparison: one program per packet
// type reads the fields BPF_PROG_TEST_RUN sets (narrow loads included),
// writes the ones the type may write, and moves the packet's bounds, so
// every run shows what the context held and what the program left.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static void count(__u32 key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(&seen, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&seen, &key, &one, BPF_ANY);
}

SEC("xdp")
int xdp_fields(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;

	count(ctx->ingress_ifindex << 8 | ctx->rx_queue_index);
	if (len > 60 && bpf_xdp_adjust_tail(ctx, -4) == 0)
		count(100);
	if (bpf_xdp_adjust_meta(ctx, -8) == 0) {
		__u32 *meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 2) <= (void *)(long)ctx->data) {
			meta[0] = len;
			meta[1] = 0xfeedf00d;
		}
	}
	if (len & 1)
		return XDP_TX;
	return len > 100 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *lo = (__u8 *)&skb->protocol;

	count(skb->len);
	count(1000 + skb->pkt_type);
	count(2000 + *lo);
	count(3000 + skb->ifindex * 10 + skb->ingress_ifindex);
	count(4000 + (skb->wire_len == skb->len));
	skb->mark = skb->len * 3;
	skb->priority = skb->protocol;
	skb->cb[0] = skb->vlan_present;
	skb->cb[4] = 0xabcd0000 | skb->pkt_type;
	skb->tc_classid = 0x10002;
	skb->tc_index = 0x12345;
	skb->cb[2] = skb->tc_index;
	if (data + ETH_HLEN <= data_end) {
		__u8 *eth = data;
		eth[0] ^= 0xff;
	}
	return skb->len > 200 ? 2 : 0;
}

SEC("socket")
int socket_fields(struct __sk_buff *skb)
{
	count(5000 + skb->protocol % 64);
	count(6000 + skb->pkt_type);
	skb->cb[1] = skb->len;
	return skb->len > 100 ? 64 : 0;
}

SEC("cgroup_skb/ingress")
int cgroup_fields(struct __sk_buff *skb)
{
	count(7000 + skb->family);
	count(8000 + (skb->local_ip4 & 0xff));
	skb->mark = skb->remote_ip4;
	skb->priority = skb->len;
	return skb->len & 1;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// bpf_loop with a callback: sums the first bytes of the packet (at most
// 64) into a hash map keyed by the packet length's low byte.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct loop_ctx {
	struct xdp_md *xdp;
	__u64 sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} sums SEC(".maps");

static long add_byte(__u32 i, struct loop_ctx *lc)
{
	void *data = (void *)(long)lc->xdp->data;
	void *data_end = (void *)(long)lc->xdp->data_end;
	__u8 *byte = data + (i & 63);

	if ((void *)(byte + 1) > data_end)
		return 1;
	lc->sum += *byte;
	return 0;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	struct loop_ctx lc = { .xdp = ctx, .sum = 0 };
	__u32 key = (ctx->data_end - ctx->data) & 0xff;

	bpf_loop(64, add_byte, &lc, 0);
	bpf_map_update_elem(&sums, &key, &lc.sum, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

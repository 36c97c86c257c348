// The callback reads the packet without a check: the caller's check
// before the loop does not cover the bytes the callback picks.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct scan {
	struct xdp_md *xdp;
	__u64 sum;
};

static long add_byte(__u32 i, struct scan *s)
{
	__u8 *byte = (void *)(long)s->xdp->data + (i & 63);

	s->sum += *byte; // error: pkt-bounds
	return 0;
}

SEC("xdp")
int loop_cb_pkt_unchecked(struct xdp_md *ctx)
{
	struct scan s = { .xdp = ctx };

	if ((void *)(long)ctx->data + 64 > (void *)(long)ctx->data_end)
		return XDP_DROP;
	bpf_loop(64, add_byte, &s, 0);
	return s.sum & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

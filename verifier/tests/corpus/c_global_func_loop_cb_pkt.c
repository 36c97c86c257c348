// A global function whose bpf_loop callback moves the packet: the caller's
// packet pointers are gone after the call, though the helper that moved it
// is only reached through a function's address, not a call.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct shrink_ctx {
	struct xdp_md *xdp;
};

static long shrink(__u32 i, struct shrink_ctx *s)
{
	bpf_xdp_adjust_tail(s->xdp, -64);
	return 1;
}

__noinline int trim(struct xdp_md *ctx)
{
	struct shrink_ctx s = { ctx };

	bpf_loop(1, shrink, &s, 0);
	return 0;
}

SEC("xdp")
int global_loop_cb_pkt(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;

	if ((void *)(p + 100) > (void *)(long)ctx->data_end)
		return XDP_DROP;
	trim(ctx);
	p[99] = 42; // error: bad-deref
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// bpf_loop's callback counts its rounds in the caller's stack; the count
// changes every round, so the rounds converge only once it is widened.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	__u64 rounds;
	__u64 sum;
};

static long count(__u32 i, struct counter *c)
{
	c->rounds++;
	c->sum += i;
	return 0;
}

SEC("xdp")
int loop_cb_counter(struct xdp_md *ctx)
{
	struct counter c = {};

	bpf_loop(ctx->ingress_ifindex & 31, count, &c, 0);
	return c.rounds == c.sum ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

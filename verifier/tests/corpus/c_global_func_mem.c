// A global function checks its pointer argument for NULL, then reads and
// writes the 16 bytes its prototype promises; the caller passes its stack.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
	__u64 a, b;
};

__noinline int swap(struct pair *p)
{
	__u64 t;

	if (!p)
		return 0;
	t = p->a;
	p->a = p->b;
	p->b = t;
	return 1;
}

SEC("xdp")
int global_mem(struct xdp_md *ctx)
{
	struct pair p = { ctx->ingress_ifindex, 2 };

	swap(&p);
	return p.a == 2 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

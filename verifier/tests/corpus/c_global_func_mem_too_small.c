// The caller passes 8 bytes of stack where the prototype promises the
// callee 16: the call is refused.
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
int global_mem_too_small(struct xdp_md *ctx)
{
	__u64 small[1] = { ctx->ingress_ifindex };

	return swap((struct pair *)small) ? XDP_PASS : XDP_DROP; // error: func-arg
}

char LICENSE[] SEC("license") = "GPL";

// A global function's pointer argument may be NULL (the kernel types it
// PTR_TO_MEM_OR_NULL): using it unchecked is refused, whatever callers pass.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
	__u64 a, b;
};

__noinline int sum(struct pair *p)
{
	return p->a + p->b; // error: null-deref
}

SEC("xdp")
int global_mem_no_null_check(struct xdp_md *ctx)
{
	struct pair p = { ctx->ingress_ifindex, 2 };

	return sum(&p) == 3 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

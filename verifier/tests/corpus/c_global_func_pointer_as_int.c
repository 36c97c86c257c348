// A pointer passed where the prototype says integer: the kernel wants a
// scalar in that register.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__noinline int low_bits(long v)
{
	return v & 0xff;
}

SEC("xdp")
int global_pointer_as_int(struct xdp_md *ctx)
{
	return low_bits((long)ctx) ? XDP_PASS : XDP_DROP; // error: func-arg
}

char LICENSE[] SEC("license") = "GPL";

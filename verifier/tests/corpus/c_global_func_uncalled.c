// A global function no verified code calls is not verified at all (Linux
// 6.8 and later), even though it reads its pointer argument unchecked.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__noinline int never(__u64 *p)
{
	return *p;
}

SEC("xdp")
int global_uncalled(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

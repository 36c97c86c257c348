// A bpf_loop callback must return 0 (go on) or 1 (stop).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long step(__u32 i, __u64 *total)
{
	*total += i;
	return 2; // error: return-range
}

SEC("xdp")
int loop_cb_bad_return(struct xdp_md *ctx)
{
	__u64 total = 0;

	bpf_loop(8, step, &total, 0);
	return total ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

// A callback must be a static function: the kernel refuses the address
// of a global one.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__noinline long step(__u32 i, __u64 *total)
{
	if (total)
		*total += i;
	return 0;
}

SEC("xdp")
int loop_cb_global(struct xdp_md *ctx)
{
	__u64 total = 0;

	bpf_loop(8, step, &total, 0); // error: bad-insn
	return total ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

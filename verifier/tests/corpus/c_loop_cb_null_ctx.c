// bpf_loop passes its third argument to the callback as is: NULL here,
// which the callback dereferences.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long bump(__u32 i, __u64 *n)
{
	*n += 1; // error: bad-deref
	return 0;
}

SEC("xdp")
int loop_cb_null_ctx(struct xdp_md *ctx)
{
	bpf_loop(4, bump, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// The callback's index is any number to the verifier (bpf_loop's count
// does not bound it), so using it as an array index needs a check.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct table {
	__u64 slot[8];
};

static long fill(__u32 i, struct table *t)
{
	t->slot[i] = i; // error: unbounded
	return 0;
}

SEC("xdp")
int loop_cb_index_unchecked(struct xdp_md *ctx)
{
	struct table t = {};

	bpf_loop(8, fill, &t, 0);
	return t.slot[7] == 7 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

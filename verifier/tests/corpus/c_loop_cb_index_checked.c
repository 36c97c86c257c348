// The callback bounds its index before using it as an array index.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct table {
	__u64 slot[8];
};

static long fill(__u32 i, struct table *t)
{
	if (i >= 8)
		return 1;
	t->slot[i] = i;
	return 0;
}

SEC("xdp")
int loop_cb_index_checked(struct xdp_md *ctx)
{
	struct table t = {};

	bpf_loop(8, fill, &t, 0);
	return t.slot[7] == 7 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

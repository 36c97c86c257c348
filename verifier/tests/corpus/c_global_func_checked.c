// The same global function with its argument bounded inside it: safe for
// any int, as the kernel verifies it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[4]);
} table SEC(".maps");

__noinline int bump(unsigned int i)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&table, &zero);
	if (!v || i >= 4)
		return 0;
	v[i] += 1;
	return 1;
}

SEC("xdp")
int global_checked(struct xdp_md *ctx)
{
	return bump(ctx->ingress_ifindex) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

// A global function indexes an array with its argument. Every caller
// passes a small constant, but the kernel verifies a global function
// alone, for any int, so the access is out of bounds.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[4]);
} table SEC(".maps");

__noinline int bump(int i)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&table, &zero);
	if (!v)
		return 0;
	v[i] += 1; // error: unbounded
	return 1;
}

SEC("xdp")
int global_unchecked(struct xdp_md *ctx)
{
	return bump(2) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

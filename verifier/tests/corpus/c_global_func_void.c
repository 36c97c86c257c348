// A global function must return an integer: the kernel verifies no other.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

__noinline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &key);

	if (v)
		*v += 1;
}

SEC("xdp")
int global_void(struct xdp_md *ctx)
{
	count(0); // error: func-arg
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// A map's keys are read-only, also to a bpf_for_each_map_elem callback.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct bpf_map;

struct total {
	__u64 sum;
	__u32 seen;
};

static long reset(struct bpf_map *map, __u32 *key, __u64 *value, struct total *t)
{
	*value = 0;
	*key = 0; // error: bad-deref
	return 0;
}

SEC("xdp")
int for_each_key_write(struct xdp_md *ctx)
{
	struct total t = {};

	bpf_for_each_map_elem(&counts, reset, &t, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// bpf_for_each_map_elem's callback gets the map, a key, its value and the
// caller's context; it reads the key and the value and adds them up.
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

static long add(struct bpf_map *map, __u32 *key, __u64 *value, struct total *t)
{
	t->sum += *value * (*key + 1);
	t->seen++;
	return 0;
}

SEC("xdp")
int for_each_sum(struct xdp_md *ctx)
{
	struct total t = {};

	bpf_for_each_map_elem(&counts, add, &t, 0);
	return t.sum > t.seen ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

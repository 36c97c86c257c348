// Indexes a map value's array with a packet byte it never bounds.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct slots {
	__u64 v[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} table SEC(".maps");

SEC("xdp")
int index_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	if ((void *)(data + 1) > data_end)
		return XDP_PASS;
	struct slots *s = bpf_map_lookup_elem(&table, &zero);
	if (!s)
		return XDP_PASS;
	__u32 i = data[0];
	s->v[i] += 1; // error: map-bounds
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

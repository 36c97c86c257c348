// SPDX-License-Identifier: GPL-2.0
// Maps of both definition styles in one object: legacy `struct bpf_map_def`
// records in the "maps" section (which libbpf 1.x no longer reads, but older
// objects carry) next to a BTF-defined map with the attributes the others
// lack (pinning, NUMA node). Counts calls per `proto` and remembers the
// last and total `len` per `proto` (both set by the tests).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") legacy_lengths = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 16,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NUMA_NODE);
	__uint(numa_node, 0);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u64);
} pinned_totals SEC(".maps");

__u32 proto;
__u32 len;

SEC("socket")
int legacy(struct __sk_buff *skb)
{
	__u32 p = proto & 3;
	__u64 *count = bpf_map_lookup_elem(&legacy_counts, &p);
	__u64 *total;

	if (count)
		__sync_fetch_and_add(count, 1);
	bpf_map_update_elem(&legacy_lengths, &p, &len, BPF_ANY);
	total = bpf_map_lookup_elem(&pinned_totals, &p);
	if (total)
		*total += len;
	else
		bpf_map_update_elem(&pinned_totals, &p, &(__u64){ len }, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// BTF-defined maps of every map type a BPF object can declare (but
// struct_ops, which needs a kernel struct to implement), each with the
// attributes its type takes: sizes or types, flags, map_extra, inner map
// definitions and initial slots. One program exercises the types bpfx
// runs (hash family, arrays, LPM trie, queue, stack, bloom filter, ring
// buffer, map-in-map, and a tail call through the program array), taking
// its input from global data rather than a context.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PAGE 4096

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} m_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} m_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} m_prog_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} m_perf_event_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} m_percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} m_percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} m_stack_trace SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} m_cgroup_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} m_lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, __u32);
	__type(value, __u64);
} m_lru_percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} m_lpm_trie SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} m_inner_a SEC(".maps"), m_inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} m_array_of_maps SEC(".maps") = {
	.values = { [0] = &m_inner_a, [1] = &m_inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 4);
		__type(key, __u32);
		__type(value, __u32);
	});
} m_hash_of_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} m_devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} m_sockmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} m_cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} m_xskmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} m_sockhash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, __u64);
} m_cgroup_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} m_reuseport_sockarray SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, __u32);
} m_percpu_cgroup_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} m_queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} m_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} m_sk_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} m_devmap_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PAGE);
} m_ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} m_inode_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} m_task_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 32);
	__uint(map_extra, 3);
	__type(value, __u32);
} m_bloom_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, PAGE);
} m_user_ringbuf SEC(".maps");

struct {
	__uint(type, 32 /* BPF_MAP_TYPE_CGRP_STORAGE, newer than this linux/bpf.h */);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} m_cgrp_storage SEC(".maps");

struct {
	__uint(type, 33 /* BPF_MAP_TYPE_ARENA, newer than this linux/bpf.h */);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
} m_arena SEC(".maps");

SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	return 40;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} m_jump SEC(".maps") = {
	.values = { [1] = (void *)&xdp_tail },
};

/* Set by the tests: 1 asks for the tail call. */
__u32 mode;

/* Returns a sum whose parts say which map operations worked, or the tail
 * call's 40 when `mode` asks for it. */
SEC("xdp")
int xdp_maps_all(struct xdp_md *ctx)
{
	__u32 zero = 0, one = 1, value = 7, out = 0;
	__u64 big = 5, *found;
	struct lpm_key key = { 32, 0x0100000a };
	void *inner;
	long ret = 0;

	if (mode == 1)
		bpf_tail_call(ctx, &m_jump, 1);
	bpf_map_update_elem(&m_hash, &one, &big, BPF_ANY);
	found = bpf_map_lookup_elem(&m_hash, &one);
	if (found && *found == 5)
		ret += 1;
	found = bpf_map_lookup_elem(&m_array, &one);
	if (found) {
		*found += 2;
		ret += 2;
	}
	bpf_map_update_elem(&m_lru_hash, &zero, &big, BPF_ANY);
	if (bpf_map_lookup_elem(&m_lru_hash, &zero))
		ret += 4;
	if (!bpf_map_lookup_elem(&m_lpm_trie, &key))
		ret += 8;
	bpf_map_push_elem(&m_queue, &value, 0);
	value = 9;
	bpf_map_push_elem(&m_queue, &value, 0);
	if (bpf_map_pop_elem(&m_queue, &out) == 0 && out == 7)
		ret += 16;
	bpf_map_push_elem(&m_stack, &value, 0);
	if (bpf_map_peek_elem(&m_stack, &out) == 0 && out == 9)
		ret += 32;
	bpf_map_push_elem(&m_bloom_filter, &value, 0);
	if (bpf_map_peek_elem(&m_bloom_filter, &value) == 0)
		ret += 64;
	if (bpf_ringbuf_output(&m_ringbuf, &big, sizeof(big), 0) == 0)
		ret += 128;
	inner = bpf_map_lookup_elem(&m_array_of_maps, &one);
	if (inner) {
		found = bpf_map_lookup_elem(inner, &zero);
		if (found) {
			*found = 11;
			ret += 256;
		}
	}
	if (!bpf_map_lookup_elem(&m_hash_of_maps, &zero))
		ret += 512;
	found = bpf_map_lookup_elem(&m_percpu_array, &zero);
	if (found) {
		*found += 1;
		ret += 1024;
	}
	return ret;
}

char LICENSE[] SEC("license") = "GPL";

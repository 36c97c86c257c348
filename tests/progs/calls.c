// SPDX-License-Identifier: GPL-2.0
// Two programs in one section sharing subprograms from .text: static and
// global functions calling each other, and callbacks passed by address to
// bpf_loop and bpf_for_each_map_elem. Each program gets its own copy of the
// functions it reaches, appended in the order libbpf appends them. Inputs
// are global data (`input`), so that the programs need no context.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} weights SEC(".maps");

static __attribute__((noinline)) __u64 square(__u64 x)
{
	return x * x;
}

static __attribute__((noinline)) __u64 sum_squares(__u64 a, __u64 b)
{
	return square(a) + square(b);
}

__attribute__((noinline)) int twice(int x)
{
	return x * 2;
}

struct bpf_map;

/* Set by the tests before a run. */
__u32 input = 5;

struct acc {
	__u64 total;
	__u32 calls;
};

static long add_square(__u32 i, struct acc *acc)
{
	acc->total += square(i);
	acc->calls++;
	return 0;
}

static long add_weight(struct bpf_map *map, __u32 *key, __u64 *value, struct acc *acc)
{
	acc->total += *value * (*key + 1);
	acc->calls++;
	return 0;
}

/* sum_squares(3, 4) + twice(input) */
SEC("xdp")
int xdp_calls(struct xdp_md *ctx)
{
	return sum_squares(3, 4) + twice(input);
}

/* 0 + 1 + 4 + ... up to (input & 15) - 1 squared, then the weights, each
 * times its index plus one; 1000 times the callback count on top. */
SEC("xdp")
int xdp_callbacks(struct xdp_md *ctx)
{
	struct acc acc = {};

	bpf_loop(input & 15, add_square, &acc, 0);
	bpf_for_each_map_elem(&weights, add_weight, &acc, 0);
	return acc.total + 1000 * acc.calls;
}

char LICENSE[] SEC("license") = "GPL";

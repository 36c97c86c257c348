// SPDX-License-Identifier: GPL-2.0
// Global data in every kind of section libbpf turns into a map: read-only
// constants (.rodata, a custom .rodata.limits, a lookup table), initialised
// (.data, a custom .data.custom, a static variable) and zeroed (.bss)
// variables. Classifies `length` (set by the tests) against the limits and
// updates counters.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 scale = 3;
static const __u8 table[8] = { 1, 2, 3, 5, 8, 13, 21, 34 };
const __u32 limits[2] SEC(".rodata.limits") = { 100, 200 };
__u64 counter = 10;
__u64 hits;
__u32 custom SEC(".data.custom") = 7;
static __u32 mixed = 5;
__u32 length = 64;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	__u32 len = length;

	counter += table[len & 7] * scale;
	hits++;
	custom += 1;
	mixed ^= len;
	if (len < limits[0])
		return 1;
	return len < limits[1] ? 2 : 3;
}

char LICENSE[] SEC("license") = "GPL";

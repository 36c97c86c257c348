// SPDX-License-Identifier: GPL-2.0
// An XDP program whose verdict depends on the clock: it drops packets once
// the monotonic clock is past 10 seconds and counts both kinds. bpfx's
// virtual clock starts at 1 s, the kernel's is the machine's uptime, so a
// live replay of it must report a difference on every packet — the test
// of --live's difference reporting.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} late SEC(".maps");

SEC("xdp")
int xdp_clock(struct xdp_md *ctx)
{
	__u32 key = bpf_ktime_get_ns() > 10000000000ULL;
	__u64 *count = bpf_map_lookup_elem(&late, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	return key ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// Global data: a read-only configuration (.rodata), initialised state
// (.data), zeroed state (.bss) and a format string (.rodata.str1.1); counts
// packets longer than the configured threshold.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 threshold = 100;
const volatile __u32 verdict_long = XDP_PASS;
__u64 long_packets = 0;
__u64 seen = 7;
__u32 last_len;

SEC("xdp")
int xdp_global(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	seen++;
	last_len = len;
	if (len <= threshold)
		return XDP_PASS;
	__sync_fetch_and_add(&long_packets, 1);
	bpf_printk("long packet: %u bytes", len);
	return verdict_long;
}

char LICENSE[] SEC("license") = "GPL";

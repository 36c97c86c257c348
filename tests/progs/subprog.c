// SPDX-License-Identifier: GPL-2.0
// bpf-to-bpf calls: a static subprogram, a global (separately verified)
// function and a subprogram calling another, all in .text, called from an
// XDP program; passes packets whose checksum-like fold of the first bytes
// is even.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) __u32 fold(__u32 x)
{
	x = (x & 0xffff) + (x >> 16);
	return (x & 0xffff) + (x >> 16);
}

static __attribute__((noinline)) __u32 mix(__u32 a, __u32 b)
{
	return fold(a * 31 + b) ^ fold(b);
}

__attribute__((noinline)) int global_len(struct xdp_md *ctx)
{
	if (!ctx)
		return 0;
	return ctx->data_end - ctx->data;
}

SEC("xdp")
int xdp_subprog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 *words = data;
	__u32 acc = global_len(ctx);

	if ((void *)(words + 2) > data_end)
		return XDP_PASS;
	acc = mix(acc, words[0]);
	acc = mix(acc, words[1]);
	return acc & 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// An XDP program both verifiers must reject: it reads the IPv4 protocol
// byte without first proving the packet is long enough. The kernel's log
// names the read; bpfx --live shows it at this file's line.
// expect: rejected by the verifier

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[23] == 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

// A global function takes the context (`struct xdp_md *` is PTR_TO_CTX
// for an XDP program) and parses the packet behind it itself.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

__noinline int eth_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	return eth->h_proto;
}

SEC("xdp")
int global_ctx(struct xdp_md *ctx)
{
	return eth_proto(ctx) < 0 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

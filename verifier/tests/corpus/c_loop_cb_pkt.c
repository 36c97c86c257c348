// The callback reads the packet through the context it is handed, checking
// every byte against data_end.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct scan {
	struct xdp_md *xdp;
	__u64 sum;
};

static long add_byte(__u32 i, struct scan *s)
{
	void *data = (void *)(long)s->xdp->data;
	void *data_end = (void *)(long)s->xdp->data_end;
	__u8 *byte = data + (i & 63);

	if ((void *)(byte + 1) > data_end)
		return 1;
	s->sum += *byte;
	return 0;
}

SEC("xdp")
int loop_cb_pkt(struct xdp_md *ctx)
{
	struct scan s = { .xdp = ctx };

	bpf_loop(64, add_byte, &s, 0);
	return s.sum & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";

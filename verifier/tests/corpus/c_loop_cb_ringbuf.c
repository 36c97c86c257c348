// A callback submits every ring buffer record it reserves
// before it returns, as a program must before it exits.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static long emit(__u32 i, void *unused)
{
	__u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);

	if (!rec)
		return 1;
	*rec = i;
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

SEC("xdp")
int loop_cb_ringbuf(struct xdp_md *ctx)
{
	bpf_loop(4, emit, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

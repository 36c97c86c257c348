// A callback must submit or discard a ring buffer record it reserves
// before it returns, like a program before it exits.
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
	if (i == 3)
		return 0;
	bpf_ringbuf_submit(rec, 0);
	return 0;
} // error: ref-leak

SEC("xdp")
int loop_cb_ringbuf_leak(struct xdp_md *ctx)
{
	bpf_loop(4, emit, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

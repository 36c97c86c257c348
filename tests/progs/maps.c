// SPDX-License-Identifier: GPL-2.0
// BTF-defined maps of three kinds and the helpers that go with them: a hash
// of first-seen timestamps per source MAC, an array of per-verdict counters
// and a ring buffer of sampled packet events.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct mac {
	__u8 addr[ETH_ALEN];
};

struct event {
	__u64 ts;
	__u32 len;
	__u32 verdict;
	struct mac src;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct mac);
	__type(value, __u64);
} first_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int xdp_maps(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct mac src;
	__u32 verdict = XDP_PASS;
	__u64 now = bpf_ktime_get_ns();

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(src.addr, eth->h_source, ETH_ALEN);

	__u64 *seen = bpf_map_lookup_elem(&first_seen, &src);
	if (!seen)
		bpf_map_update_elem(&first_seen, &src, &now, BPF_NOEXIST);
	else if (now - *seen > 60ull * 1000000000ull)
		bpf_map_delete_elem(&first_seen, &src);

	__u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);
	if (n)
		__sync_fetch_and_add(n, 1);

	if ((bpf_get_prandom_u32() & 7) == 0) {
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->ts = now;
			e->len = data_end - data;
			e->verdict = verdict;
			e->src = src;
			bpf_ringbuf_submit(e, 0);
		}
	}
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

// A small XDP-shaped program for isa/tests/asm.rs: compiled with clang-19,
// disassembled with llvm-objdump-19 -dr (relocations, symbol headers, two
// sections, jump annotations, source lines with -S), and the listing must
// reassemble to the object's bytes.
#define SEC(name) __attribute__((section(name), used))

struct xdp_md {
	unsigned int data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
};

struct {
	int type;
	int max_entries;
	int *key;
	long *value;
} counters SEC(".maps");

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

long total = 5;
int hits;

static __attribute__((noinline)) int scale(int x, short y)
{
	return x * 3 / (y | 1) + (signed char)x;
}

SEC("xdp") int xdp_prog(struct xdp_md *ctx)
{
	int key = ctx->ingress_ifindex;
	long *value = bpf_map_lookup_elem(&counters, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	__sync_fetch_and_add(&hits, 1);
	int r = scale(key, (short)ctx->rx_queue_index);
	for (int i = 0; i < 10; i++)
		if (total > i)
			r += i;
	return r + __builtin_bswap32(total) % 7;
}

char _license[] SEC("license") = "GPL";

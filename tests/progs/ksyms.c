// SPDX-License-Identifier: GPL-2.0
// .ksyms externs: kernel functions (the open-coded number iterator) called
// as kfuncs, found by name in the running kernel's BTF, and a weak kfunc no
// kernel has, tested with bpf_ksym_exists. Sums 0..input-1 into `sum`.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Newer than this linux/bpf.h. */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpfx_no_such_kfunc(void) __ksym __weak;

__u32 input = 10;
__u64 sum;
__u32 has_missing = 7;

SEC("xdp")
int xdp_ksyms(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *i;

	sum = 0;
	bpf_iter_num_new(&it, 0, input & 63);
	while ((i = bpf_iter_num_next(&it)))
		sum += *i;
	bpf_iter_num_destroy(&it);
	has_missing = !!bpfx_no_such_kfunc;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

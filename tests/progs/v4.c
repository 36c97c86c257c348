// SPDX-License-Identifier: GPL-2.0
// cflags: -mcpu=v4
// Instructions of ISA v3/v4 that clang emits with -mcpu=v4: signed division
// and modulo, sign-extending moves and loads, byte swaps, 32-bit jumps and
// ALU, and 32-bit atomics (fetch, exchange, compare-and-exchange).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 flags;
__u64 total;

SEC("socket")
int v4_ops(struct __sk_buff *skb)
{
	__s32 len = skb->len;
	__s32 mark = (__s8)skb->mark;
	__s64 q = (__s64)len / (mark | 1);
	__s64 r = (__s64)len % (mark | 3);
	__s16 prio = *(volatile __s16 *)&skb->priority;
	__u32 old = __sync_fetch_and_or(&flags, 1u << (len & 31));

	__sync_fetch_and_xor(&flags, 2);
	__sync_fetch_and_and(&flags, ~4u);
	__atomic_exchange_n(&flags, old ^ 8, __ATOMIC_SEQ_CST);
	__sync_val_compare_and_swap(&flags, old, old | 16);
	__sync_fetch_and_add(&total, __builtin_bswap64(q + r + prio));
	return __builtin_bswap32(old) ^ __builtin_bswap16((__u16)q);
}

char LICENSE[] SEC("license") = "GPL";

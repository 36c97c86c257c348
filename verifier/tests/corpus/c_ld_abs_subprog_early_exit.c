// A failed legacy packet load in a called function returns 0 from it at
// once: the caller must handle r0 == 0 although the function's own code
// only ever returns 1. Here that path reads r9, which was never written.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((naked, noinline, used)) static int first_byte_seen(void)
{
	asm volatile("r6 = r1; r0 = *(u8 *)skb[0]; r0 = 1; exit;" ::: "memory");
}

SEC("socket")
__attribute__((naked)) int ld_abs_subprog_early_exit(void)
{
	asm volatile("call first_byte_seen; if r0 != 0 goto 1f; r0 = r9; 1: r0 = 0; exit;" ::: "memory"); // error: uninit-reg
}

char LICENSE[] SEC("license") = "GPL";

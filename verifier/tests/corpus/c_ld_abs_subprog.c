// A legacy packet load in a subprogram returning an int: the kernel allows
// it (a failed load returns 0 from the function).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

static __attribute__((noinline)) int ip_proto(struct __sk_buff *skb)
{
	return load_byte(skb, 23);
}

SEC("socket")
int ld_abs_subprog(struct __sk_buff *skb)
{
	return ip_proto(skb) == 6 ? -1 : 0;
}

char LICENSE[] SEC("license") = "GPL";

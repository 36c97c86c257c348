// A legacy packet load in a subprogram returning void: a failed load
// returns 0 from the function, so the kernel wants it to return an int.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

static __attribute__((noinline)) void ip_proto(struct __sk_buff *skb, int *out)
{
	*out = load_byte(skb, 23); // error: bad-insn
}

SEC("socket")
int ld_abs_subprog_void(struct __sk_buff *skb)
{
	int proto = 0;

	ip_proto(skb, &proto);
	return proto == 6 ? -1 : 0;
}

char LICENSE[] SEC("license") = "GPL";

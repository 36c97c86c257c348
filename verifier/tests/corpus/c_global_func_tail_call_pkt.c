// A global function that makes a tail call may let another program move
// the packet before it returns: the caller's packet pointers are gone.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

__noinline int jump(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jumps, 0);
	return 0;
}

SEC("tc")
int global_tail_call_pkt(struct __sk_buff *skb)
{
	int *p = (void *)(long)skb->data;

	if ((void *)(p + 1) > (void *)(long)skb->data_end)
		return TC_ACT_SHOT;
	jump(skb);
	*p = 42; // error: bad-deref
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

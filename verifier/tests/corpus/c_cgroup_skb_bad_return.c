// A cgroup skb program must return 0 or 1; this one may return 2.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup_skb/ingress")
int bad_return(struct __sk_buff *skb)
{
	return skb->len > 100 ? 2 : 1; // error: return-range
}

char LICENSE[] SEC("license") = "GPL";

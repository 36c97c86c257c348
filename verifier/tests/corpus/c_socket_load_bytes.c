// Copies the first bytes of the packet to the stack with a helper.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int load_bytes(struct __sk_buff *skb)
{
	__u8 buf[16];
	if (bpf_skb_load_bytes(skb, 0, buf, sizeof(buf)) < 0)
		return 0;
	return buf[12] == 0x08 ? -1 : 0;
}

char LICENSE[] SEC("license") = "GPL";

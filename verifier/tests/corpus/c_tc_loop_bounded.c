// Sums up to 32 payload bytes in a bounded loop, each access checked.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int sum_bytes(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 sum = 0;
	for (int i = 0; i < 32; i++) {
		if ((void *)(data + i + 1) > data_end)
			break;
		sum += data[i];
	}
	skb->mark = sum;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// CO-RE against the running kernel's BTF: local views of kernel structs
// (fields reordered, renamed by flavor, missing) read an Ethernet + IPv4 +
// TCP packet through field offset relocations, bitfield reads (offset,
// size, shifts, signedness), and existence, size, id and enum value
// relocations. The packet is global data, so that the program needs no
// context; every result goes to `results`, which the tests compare with the
// packet, the kernel's BTF, and libbpf's relocation of the same object.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __core __attribute__((preserve_access_index))

struct ethhdr___bpfx {
	unsigned short h_proto;
	unsigned char h_dest[6];
} __core;

/* The kernel's iphdr starts with bitfields and keeps the addresses in an
 * anonymous union of anonymous structs. */
struct iphdr___bpfx {
	unsigned int saddr;
	unsigned char ttl;
	unsigned char protocol;
	unsigned char version:4, ihl:4;
	unsigned short tot_len;
	unsigned int not_in_kernel;
} __core;

struct tcphdr___bpfx {
	unsigned short dest;
	unsigned short source;
	unsigned short syn:1, fin:1, doff:4, ack:1;
} __core;

/* Matches the kernel's type (`bpf_core_type_matches` compares integer
 * type names too, and gcc, which built the kernel, and clang name `unsigned
 * short` differently, so this is a struct of `unsigned int`). */
struct in_addr___same {
	unsigned int s_addr;
} __core;

struct task_struct {
	int pid;
	int tgid;
} __core;

struct bpfx_no_such_type {
	int x;
} __core;

enum bpf_map_type___bpfx {
	BPF_MAP_TYPE_RINGBUF___bpfx = 1,
	BPF_MAP_TYPE_NO_SUCH___bpfx = 2,
};

/* A TCP SYN, 10.0.0.1:1234 -> 10.0.0.2:80, TTL 64. */
__u8 packet[64] = {
	[12] = 0x08, 0x00,
	0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00,
	10, 0, 0, 1, 10, 0, 0, 2,
	0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x03, 0xe8,
};

__u64 results[24];

SEC("xdp")
int xdp_core(struct xdp_md *ctx)
{
	struct ethhdr___bpfx *eth = (void *)packet;
	struct iphdr___bpfx *ip = (void *)(packet + 14);
	struct tcphdr___bpfx *tcp = (void *)(packet + 34);

	results[0] = eth->h_proto;
	results[1] = ip->ttl;
	results[2] = ip->protocol;
	results[3] = ip->saddr;
	results[4] = BPF_CORE_READ_BITFIELD(ip, version);
	results[5] = BPF_CORE_READ_BITFIELD(ip, ihl);
	results[6] = BPF_CORE_READ_BITFIELD(tcp, syn);
	results[7] = BPF_CORE_READ_BITFIELD(tcp, doff);
	results[8] = bpf_core_field_exists(ip->not_in_kernel);
	results[9] = bpf_core_field_exists(ip->tot_len);
	results[10] = bpf_core_type_exists(struct task_struct);
	results[11] = bpf_core_type_exists(struct bpfx_no_such_type);
	results[12] = bpf_core_type_size(struct iphdr___bpfx);
	results[13] = bpf_core_field_offset(struct task_struct, pid);
	results[14] = bpf_core_enum_value(enum bpf_map_type___bpfx, BPF_MAP_TYPE_RINGBUF___bpfx);
	results[15] = bpf_core_enum_value_exists(enum bpf_map_type___bpfx, BPF_MAP_TYPE_NO_SUCH___bpfx);
	results[16] = bpf_core_type_id_kernel(struct task_struct);
	results[17] = bpf_core_field_size(ip->saddr);
	results[18] = bpf_core_type_matches(struct iphdr___bpfx);
	results[19] = bpf_core_type_matches(struct in_addr___same);
	results[20] = bpf_core_field_offset(eth->h_dest[3]);
	results[21] = __builtin_preserve_field_info(tcp->doff, BPF_FIELD_SIGNED);
	results[22] = ip->tot_len;
	results[23] = bpf_core_type_id_local(struct task_struct);
	return XDP_PASS;
}

/* A read of a field the kernel lacks, guarded by its existence: the load is
 * poisoned, and dead. */
SEC("xdp")
int xdp_core_guarded(struct xdp_md *ctx)
{
	struct iphdr___bpfx *ip = (void *)(packet + 14);

	if (bpf_core_field_exists(ip->not_in_kernel))
		return ip->not_in_kernel;
	return ip->ttl;
}

char LICENSE[] SEC("license") = "GPL";

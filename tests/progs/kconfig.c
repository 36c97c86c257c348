// SPDX-License-Identifier: GPL-2.0
// .kconfig externs: the kernel's version, configuration values of each
// kind libbpf fills (bool, tristate, int, string) and a weak one no kernel
// has, copied into `kconfig` for the tests to compare with the kernel's
// /proc/config.gz.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_NET_CLS_ACT __kconfig;
extern int CONFIG_HZ __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;
extern int CONFIG_BPFX_NO_SUCH_OPTION __kconfig __weak;

__u64 kconfig[8];

SEC("xdp")
int xdp_kconfig(struct xdp_md *ctx)
{
	kconfig[0] = LINUX_KERNEL_VERSION;
	kconfig[1] = CONFIG_BPF_SYSCALL;
	kconfig[2] = CONFIG_NET_CLS_ACT;
	kconfig[3] = CONFIG_HZ;
	kconfig[4] = CONFIG_BPFX_NO_SUCH_OPTION;
	__builtin_memcpy(&kconfig[5], CONFIG_DEFAULT_HOSTNAME, 8);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

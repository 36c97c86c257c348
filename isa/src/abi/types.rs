//! Program and map types by the kernel's numbering (`enum bpf_prog_type`,
//! `enum bpf_map_type` in Linux 6.12's `linux/bpf.h`).

macro_rules! kernel_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $value:literal, $kname:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant = $value,)*
        }

        impl $name {
            /// Every value, in the kernel's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The kernel's numeric value.
            pub const fn value(self) -> u32 {
                self as u32
            }

            /// The value the kernel numbers `value`, if it knows one.
            pub fn from_value(value: u32) -> Option<Self> {
                Self::ALL.get(value as usize).copied()
            }

            /// The kernel's name, lower-case and without its prefix (`xdp`, `lru_hash`).
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $kname,)* }
            }

            /// The value with this lower-case kernel name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kernel_enum! {
    /// A program type (`BPF_PROG_TYPE_*`).
    pub enum ProgType {
        Unspec = 0, "unspec";
        SocketFilter = 1, "socket_filter";
        Kprobe = 2, "kprobe";
        SchedCls = 3, "sched_cls";
        SchedAct = 4, "sched_act";
        Tracepoint = 5, "tracepoint";
        Xdp = 6, "xdp";
        PerfEvent = 7, "perf_event";
        CgroupSkb = 8, "cgroup_skb";
        CgroupSock = 9, "cgroup_sock";
        LwtIn = 10, "lwt_in";
        LwtOut = 11, "lwt_out";
        LwtXmit = 12, "lwt_xmit";
        SockOps = 13, "sock_ops";
        SkSkb = 14, "sk_skb";
        CgroupDevice = 15, "cgroup_device";
        SkMsg = 16, "sk_msg";
        RawTracepoint = 17, "raw_tracepoint";
        CgroupSockAddr = 18, "cgroup_sock_addr";
        LwtSeg6local = 19, "lwt_seg6local";
        LircMode2 = 20, "lirc_mode2";
        SkReuseport = 21, "sk_reuseport";
        FlowDissector = 22, "flow_dissector";
        CgroupSysctl = 23, "cgroup_sysctl";
        RawTracepointWritable = 24, "raw_tracepoint_writable";
        CgroupSockopt = 25, "cgroup_sockopt";
        Tracing = 26, "tracing";
        StructOps = 27, "struct_ops";
        Ext = 28, "ext";
        Lsm = 29, "lsm";
        SkLookup = 30, "sk_lookup";
        Syscall = 31, "syscall";
        Netfilter = 32, "netfilter";
    }
}

kernel_enum! {
    /// A map type (`BPF_MAP_TYPE_*`).
    pub enum MapType {
        Unspec = 0, "unspec";
        Hash = 1, "hash";
        Array = 2, "array";
        ProgArray = 3, "prog_array";
        PerfEventArray = 4, "perf_event_array";
        PercpuHash = 5, "percpu_hash";
        PercpuArray = 6, "percpu_array";
        StackTrace = 7, "stack_trace";
        CgroupArray = 8, "cgroup_array";
        LruHash = 9, "lru_hash";
        LruPercpuHash = 10, "lru_percpu_hash";
        LpmTrie = 11, "lpm_trie";
        ArrayOfMaps = 12, "array_of_maps";
        HashOfMaps = 13, "hash_of_maps";
        Devmap = 14, "devmap";
        Sockmap = 15, "sockmap";
        Cpumap = 16, "cpumap";
        Xskmap = 17, "xskmap";
        Sockhash = 18, "sockhash";
        CgroupStorage = 19, "cgroup_storage";
        ReuseportSockarray = 20, "reuseport_sockarray";
        PercpuCgroupStorage = 21, "percpu_cgroup_storage";
        Queue = 22, "queue";
        Stack = 23, "stack";
        SkStorage = 24, "sk_storage";
        DevmapHash = 25, "devmap_hash";
        StructOps = 26, "struct_ops";
        Ringbuf = 27, "ringbuf";
        InodeStorage = 28, "inode_storage";
        TaskStorage = 29, "task_storage";
        BloomFilter = 30, "bloom_filter";
        UserRingbuf = 31, "user_ringbuf";
        CgrpStorage = 32, "cgrp_storage";
        Arena = 33, "arena";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_kernels() {
        assert_eq!(ProgType::Xdp.value(), 6);
        assert_eq!(ProgType::SchedCls.value(), 3);
        assert_eq!(ProgType::Netfilter.value(), 32);
        assert_eq!(MapType::LruHash.value(), 9);
        assert_eq!(MapType::Ringbuf.value(), 27);
        assert_eq!(MapType::from_name("lpm_trie"), Some(MapType::LpmTrie));
        for (i, t) in MapType::ALL.iter().enumerate() {
            assert_eq!(t.value() as usize, i);
        }
    }
}

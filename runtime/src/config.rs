//! What a run may observe of the world: clock, randomness, CPU, the calling
//! task and memory to probe. All of it configurable, so a replay gives the
//! same results every time.

use std::collections::BTreeMap;

/// The default instruction budget of a run.
pub const DEFAULT_INSN_BUDGET: u64 = 1_000_000;

/// How a runtime is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Instructions one run may execute (tail calls and callbacks included)
    /// before it stops with [`crate::Fault::BudgetExhausted`].
    pub insn_budget: u64,
    pub clock: Clock,
    /// Seed of `bpf_get_prandom_u32`.
    pub seed: u64,
    /// The CPU programs run on (`bpf_get_smp_processor_id`, per-CPU maps).
    pub cpu: u32,
    /// CPUs per-CPU maps hold values for; 1 keeps replays deterministic.
    pub cpus: u32,
    /// `bpf_get_numa_node_id`.
    pub numa_node: u32,
    /// The task `bpf_get_current_*` report.
    pub task: Task,
    /// What `bpf_probe_read_kernel*` can read.
    pub kernel_memory: ProbeMemory,
    /// What `bpf_probe_read_user*` can read.
    pub user_memory: ProbeMemory,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            insn_budget: DEFAULT_INSN_BUDGET,
            clock: Clock::default(),
            seed: 0x6270_6678,
            cpu: 0,
            cpus: 1,
            numa_node: 0,
            task: Task::default(),
            kernel_memory: ProbeMemory::default(),
            user_memory: ProbeMemory::default(),
        }
    }
}

/// Where `bpf_ktime_get_*ns` get their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// A clock that starts at `start_ns` and advances by `step_ns` each time
    /// a program reads it (and can be set, e.g. to a packet's timestamp).
    Virtual { start_ns: u64, step_ns: u64 },
    /// The host's monotonic clock, from when the runtime was created plus
    /// `start_ns`.
    Host { start_ns: u64 },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::Virtual { start_ns: 1_000_000_000, step_ns: 1_000 }
    }
}

/// `bpf_ktime_get_coarse_ns` has the resolution of a jiffy (`HZ` = 250).
pub const COARSE_TICK_NS: u64 = 4_000_000;

/// The task `bpf_get_current_pid_tgid`, `_uid_gid` and `_comm` describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The thread id (the kernel's `pid`).
    pub pid: u32,
    /// The process id (the kernel's `tgid`).
    pub tgid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The task's name, at most 15 bytes used (`TASK_COMM_LEN` is 16).
    pub comm: String,
}

impl Default for Task {
    fn default() -> Self {
        Task { pid: 4242, tgid: 4242, uid: 1000, gid: 1000, comm: "bpfx".to_string() }
    }
}

/// A sparse memory image for the `bpf_probe_read_*` helpers: byte runs at
/// addresses. Anything not covered reads as a fault (`-EFAULT`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMemory {
    runs: BTreeMap<u64, Vec<u8>>,
}

impl ProbeMemory {
    /// Places `bytes` at `addr`, replacing whatever overlapping runs held.
    pub fn insert(&mut self, addr: u64, bytes: Vec<u8>) {
        let end = addr.saturating_add(bytes.len() as u64);
        let overlapping: Vec<u64> =
            self.runs.range(..end).filter(|(a, b)| a.saturating_add(b.len() as u64) > addr).map(|(a, _)| *a).collect();
        let mut merged: Vec<(u64, Vec<u8>)> = Vec::new();
        for a in overlapping {
            let old = self.runs.remove(&a).unwrap_or_default();
            if a < addr {
                merged.push((a, old[..(addr - a) as usize].to_vec()));
            }
            let old_end = a + old.len() as u64;
            if old_end > end {
                merged.push((end, old[(end - a) as usize..].to_vec()));
            }
        }
        self.runs.extend(merged);
        self.runs.insert(addr, bytes);
    }

    /// The byte at `addr`, if the image has one.
    pub fn byte(&self, addr: u64) -> Option<u8> {
        let (start, run) = self.runs.range(..=addr).next_back()?;
        run.get(usize::try_from(addr - start).ok()?).copied()
    }

    /// `len` bytes from `addr`, if the image covers all of them.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut at = addr;
        while out.len() < len {
            let (start, run) = self.runs.range(..=at).next_back()?;
            let off = usize::try_from(at - start).ok()?;
            let avail = run.get(off..).filter(|r| !r.is_empty())?;
            let take = avail.len().min(len - out.len());
            out.extend_from_slice(&avail[..take]);
            at = at.checked_add(take as u64)?;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_memory_reads_across_runs_and_refuses_gaps() {
        let mut m = ProbeMemory::default();
        m.insert(0x1000, vec![1, 2, 3, 4]);
        m.insert(0x1004, vec![5, 6]);
        assert_eq!(m.read(0x1002, 4), Some(vec![3, 4, 5, 6]));
        assert_eq!(m.read(0x1002, 5), None);
        assert_eq!(m.read(0x0fff, 1), None);
        m.insert(0x1001, vec![9, 9]);
        assert_eq!(m.read(0x1000, 6), Some(vec![1, 9, 9, 4, 5, 6]));
        assert_eq!(m.byte(0x1005), Some(6));
        assert_eq!(m.byte(0x1006), None);
        assert_eq!(m.read(0x5000, 0), Some(vec![]));
    }
}

//! Helpers about the world: time, randomness, the CPU and task, probing
//! memory, locks, and `bpf_loop`.

use super::errno::{E2BIG, EFAULT, EINVAL};
use crate::config::ProbeMemory;
use crate::fault::Fault;
use crate::runtime::Runtime;

/// The most iterations `bpf_loop` runs (the kernel's `BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// `u64 bpf_ktime_get_ns(void)`.
pub(crate) fn ktime_get_ns(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(rt.now_ns())
}

/// `u64 bpf_ktime_get_boot_ns(void)`: bpfx's machine never suspends, so
/// boot time is monotonic time.
pub(crate) fn ktime_get_boot_ns(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(rt.now_ns())
}

/// `u64 bpf_ktime_get_coarse_ns(void)`: the clock at jiffy resolution.
pub(crate) fn ktime_get_coarse_ns(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(rt.coarse_ns())
}

/// `u32 bpf_get_prandom_u32(void)`.
pub(crate) fn get_prandom_u32(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(rt.next_random() >> 32)
}

/// `u32 bpf_get_smp_processor_id(void)`.
pub(crate) fn get_smp_processor_id(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(u64::from(rt.config().cpu))
}

/// `long bpf_get_numa_node_id(void)`.
pub(crate) fn get_numa_node_id(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Ok(u64::from(rt.config().numa_node))
}

/// `u64 bpf_get_current_pid_tgid(void)`: `tgid << 32 | pid`.
pub(crate) fn get_current_pid_tgid(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    let t = &rt.config().task;
    Ok(u64::from(t.tgid) << 32 | u64::from(t.pid))
}

/// `u64 bpf_get_current_uid_gid(void)`: `gid << 32 | uid`.
pub(crate) fn get_current_uid_gid(rt: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    let t = &rt.config().task;
    Ok(u64::from(t.gid) << 32 | u64::from(t.uid))
}

/// `long bpf_get_current_comm(void *buf, u32 size_of_buf)`: the task name,
/// truncated to `size - 1` bytes, NUL-terminated and zero-padded.
pub(crate) fn get_current_comm(rt: &mut Runtime, [buf, size, ..]: [u64; 5]) -> Result<u64, Fault> {
    let size = size as u32 as usize;
    if size == 0 {
        return Ok(EINVAL);
    }
    let mut out = vec![0u8; size];
    let comm = rt.config().task.comm.as_bytes();
    let n = comm.len().min(15).min(size - 1);
    out[..n].copy_from_slice(&comm[..n]);
    rt.write_mem(buf, &out)?;
    Ok(0)
}

/// `long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr)`
/// over the configured kernel memory image (also `bpf_probe_read`).
pub(crate) fn probe_read_kernel(rt: &mut Runtime, [dst, size, src, ..]: [u64; 5]) -> Result<u64, Fault> {
    probe_read(rt, Space::Kernel, dst, size, src)
}

/// `long bpf_probe_read_user(void *dst, u32 size, const void *unsafe_ptr)`
/// over the configured user memory image.
pub(crate) fn probe_read_user(rt: &mut Runtime, [dst, size, src, ..]: [u64; 5]) -> Result<u64, Fault> {
    probe_read(rt, Space::User, dst, size, src)
}

/// `long bpf_probe_read_kernel_str(void *dst, u32 size, const void *unsafe_ptr)`
/// (also `bpf_probe_read_str`).
pub(crate) fn probe_read_kernel_str(rt: &mut Runtime, [dst, size, src, ..]: [u64; 5]) -> Result<u64, Fault> {
    probe_read_str(rt, Space::Kernel, dst, size, src)
}

/// `long bpf_probe_read_user_str(void *dst, u32 size, const void *unsafe_ptr)`.
pub(crate) fn probe_read_user_str(rt: &mut Runtime, [dst, size, src, ..]: [u64; 5]) -> Result<u64, Fault> {
    probe_read_str(rt, Space::User, dst, size, src)
}

/// The address space a probe reads.
#[derive(Clone, Copy)]
enum Space {
    Kernel,
    User,
}

fn image(rt: &Runtime, space: Space) -> &ProbeMemory {
    match space {
        Space::Kernel => &rt.config().kernel_memory,
        Space::User => &rt.config().user_memory,
    }
}

/// Copies `size` bytes of the image at `src` to `dst`; where the image
/// does not cover them all, zeroes `dst` and returns `-EFAULT`.
fn probe_read(rt: &mut Runtime, space: Space, dst: u64, size: u64, src: u64) -> Result<u64, Fault> {
    let size = size as u32 as usize;
    rt.check_mem(dst, size as u64, true)?;
    match image(rt, space).read(src, size) {
        Some(bytes) => {
            rt.write_mem(dst, &bytes)?;
            Ok(0)
        }
        None => {
            rt.write_mem(dst, &vec![0; size])?;
            Ok(EFAULT)
        }
    }
}

/// Copies a NUL-terminated string of at most `size - 1` bytes and its NUL;
/// returns its length with the NUL, or zeroes `dst` and returns `-EFAULT`
/// when the image ends before the string does.
fn probe_read_str(rt: &mut Runtime, space: Space, dst: u64, size: u64, src: u64) -> Result<u64, Fault> {
    let size = size as u32 as usize;
    rt.check_mem(dst, size as u64, true)?;
    if size == 0 {
        return Ok(0);
    }
    let mut out = Vec::with_capacity(size);
    let mem = image(rt, space);
    for i in 0..size - 1 {
        match mem.byte(src.wrapping_add(i as u64)) {
            Some(0) => break,
            Some(b) => out.push(b),
            None => {
                rt.write_mem(dst, &vec![0; size])?;
                return Ok(EFAULT);
            }
        }
    }
    out.push(0);
    rt.write_mem(dst, &out)?;
    Ok(out.len() as u64)
}

/// `long bpf_spin_lock(struct bpf_spin_lock *lock)`. Runs are single
/// threaded, so a lock already held can only be a deadlock.
pub(crate) fn spin_lock(rt: &mut Runtime, [lock, ..]: [u64; 5]) -> Result<u64, Fault> {
    if rt.read_u32(lock)? != 0 || rt.locks.contains(&lock) {
        return Err(rt.bad_arg(format!("spin lock at {lock:#x} is already held (a deadlock)")));
    }
    rt.write_u32(lock, 1)?;
    rt.locks.push(lock);
    Ok(0)
}

/// `long bpf_spin_unlock(struct bpf_spin_lock *lock)`.
pub(crate) fn spin_unlock(rt: &mut Runtime, [lock, ..]: [u64; 5]) -> Result<u64, Fault> {
    let Some(i) = rt.locks.iter().position(|&l| l == lock) else {
        return Err(rt.bad_arg(format!("spin lock at {lock:#x} is not held")));
    };
    rt.write_u32(lock, 0)?;
    rt.locks.swap_remove(i);
    Ok(0)
}

/// `long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)`:
/// calls `callback_fn(i, callback_ctx)` until it returns non-zero; returns
/// the number of calls made.
pub(crate) fn bpf_loop(rt: &mut Runtime, [nr_loops, callback, ctx, flags, _]: [u64; 5]) -> Result<u64, Fault> {
    let nr_loops = nr_loops as u32 as u64;
    if flags != 0 {
        return Ok(EINVAL);
    }
    if nr_loops > BPF_MAX_LOOPS {
        return Ok(E2BIG);
    }
    for i in 0..nr_loops {
        if rt.call_back(callback, [i, ctx, 0, 0, 0])? != 0 {
            return Ok(i + 1);
        }
    }
    Ok(nr_loops)
}

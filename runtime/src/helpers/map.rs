//! Map helpers: lookup/update/delete, queues and stacks, iteration, ring
//! buffers, perf output, tail calls and map redirects. The maps do the
//! work (with the kernel's semantics); these read the arguments out of
//! program memory and turn results into `r0`.

use bpfx_isa::abi::MapType;

use super::errno::{EINVAL, ENOENT};
use crate::context::ContextKind;
use crate::fault::Fault;
use crate::maps::flags::{BPF_F_BROADCAST, BPF_F_CTXLEN_MASK, BPF_F_EXCLUDE_INGRESS, BPF_F_INDEX_MASK};
use crate::maps::{MAX_TAIL_CALL_CNT, Map, MapResult};
use crate::region::MapId;
use crate::runtime::{Redirect, Runtime};
use crate::vmctx::status;

/// `XDP_REDIRECT`, what a successful XDP redirect returns.
const XDP_REDIRECT: u64 = 4;
/// `XDP_ABORTED`.
const XDP_ABORTED: u64 = 0;
/// The low bits of `bpf_redirect_map`'s flags: the action on a miss.
const BPF_F_ACTION_MASK: u64 = 0x3;

/// `r0` for a map operation: 0, or the kernel's negative errno.
fn status_of(r: MapResult<()>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => e.errno() as u64,
    }
}

/// The map behind a handle, and its key and value sizes.
fn map_of(rt: &mut Runtime, handle: u64) -> Result<(MapId, u64, u64), Fault> {
    let id = rt.map_arg(handle)?;
    let spec = rt.map(id).expect("map_arg returns live ids").spec();
    Ok((id, u64::from(spec.key_size), u64::from(spec.value_size)))
}

fn map_at(rt: &mut Runtime, id: MapId) -> &mut dyn Map {
    rt.map_mut(id).expect("map_arg returns live ids")
}

/// `void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)`: a
/// pointer to the value, or NULL. For a map of maps, the inner map.
pub(crate) fn lookup_elem(rt: &mut Runtime, [map, key, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, key_size, _) = map_of(rt, map)?;
    let key = rt.copy_mem(key, key_size)?;
    let cpu = rt.config().cpu;
    let m = map_at(rt, id);
    if matches!(m.spec().map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
        let inner = m.inner_map(&key);
        return Ok(inner.map_or(0, |inner| rt.map_handle(MapId(inner))));
    }
    Ok(m.prog_lookup(&key, cpu).map_or(0, |p| p.as_ptr() as u64))
}

/// `void *bpf_map_lookup_percpu_elem(struct bpf_map *map, const void *key, u32 cpu)`.
pub(crate) fn lookup_percpu_elem(rt: &mut Runtime, [map, key, cpu, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, key_size, _) = map_of(rt, map)?;
    let key = rt.copy_mem(key, key_size)?;
    Ok(map_at(rt, id).prog_lookup_percpu(&key, cpu as u32).map_or(0, |p| p.as_ptr() as u64))
}

/// `long bpf_map_update_elem(struct bpf_map *map, const void *key, const void *value, u64 flags)`.
pub(crate) fn update_elem(rt: &mut Runtime, [map, key, value, flags, _]: [u64; 5]) -> Result<u64, Fault> {
    let (id, key_size, value_size) = map_of(rt, map)?;
    let key = rt.copy_mem(key, key_size)?;
    let value = rt.copy_mem(value, value_size)?;
    let cpu = rt.config().cpu;
    Ok(status_of(map_at(rt, id).prog_update(&key, &value, flags, cpu)))
}

/// `long bpf_map_delete_elem(struct bpf_map *map, const void *key)`.
pub(crate) fn delete_elem(rt: &mut Runtime, [map, key, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, key_size, _) = map_of(rt, map)?;
    let key = rt.copy_mem(key, key_size)?;
    Ok(status_of(map_at(rt, id).prog_delete(&key)))
}

/// `long bpf_map_push_elem(struct bpf_map *map, const void *value, u64 flags)`.
pub(crate) fn push_elem(rt: &mut Runtime, [map, value, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, _, value_size) = map_of(rt, map)?;
    let value = rt.copy_mem(value, value_size)?;
    Ok(status_of(map_at(rt, id).push(&value, flags)))
}

/// `long bpf_map_pop_elem(struct bpf_map *map, void *value)`.
pub(crate) fn pop_elem(rt: &mut Runtime, [map, value, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, _, value_size) = map_of(rt, map)?;
    rt.check_mem(value, value_size, true)?;
    let mut out = vec![0; value_size as usize];
    let r = map_at(rt, id).pop(&mut out);
    if r.is_ok() {
        rt.write_mem(value, &out)?;
    }
    Ok(status_of(r))
}

/// `long bpf_map_peek_elem(struct bpf_map *map, void *value)`; for a bloom
/// filter, `value` is the value to test.
pub(crate) fn peek_elem(rt: &mut Runtime, [map, value, ..]: [u64; 5]) -> Result<u64, Fault> {
    let (id, _, value_size) = map_of(rt, map)?;
    if rt.map(id).is_some_and(|m| m.spec().map_type == MapType::BloomFilter) {
        let mut probe = rt.read_mem(value, value_size)?;
        return Ok(status_of(map_at(rt, id).peek(&mut probe)));
    }
    rt.check_mem(value, value_size, true)?;
    let mut out = vec![0; value_size as usize];
    let r = map_at(rt, id).peek(&mut out);
    if r.is_ok() {
        rt.write_mem(value, &out)?;
    }
    Ok(status_of(r))
}

/// `long bpf_for_each_map_elem(struct bpf_map *map, void *callback_fn, void *callback_ctx, u64 flags)`:
/// calls `callback_fn(map, &key, &value, callback_ctx)` for each element
/// present when it starts, until the callback returns non-zero; returns
/// the number of calls. The key is a copy in read-only scratch memory.
pub(crate) fn for_each_map_elem(rt: &mut Runtime, [map, callback, ctx, flags, _]: [u64; 5]) -> Result<u64, Fault> {
    let (id, _, _) = map_of(rt, map)?;
    if flags != 0 {
        return Ok(EINVAL);
    }
    let m = rt.map(id).expect("map_arg returns live ids");
    let map_type = m.spec().map_type;
    let keys: Vec<Vec<u8>> = match map_type {
        MapType::Array | MapType::PercpuArray => (0..m.spec().max_entries).map(|i| i.to_ne_bytes().to_vec()).collect(),
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            let mut keys = Vec::new();
            let mut key: Option<Vec<u8>> = None;
            while let Ok(next) = m.next_key(key.as_deref()) {
                keys.push(next.clone());
                key = Some(next);
            }
            keys
        }
        _ => return Ok(EINVAL),
    };
    let cpu = rt.config().cpu;
    let mut calls = 0;
    for key in keys {
        let Some(value) = map_at(rt, id).prog_lookup(&key, cpu) else { continue };
        let key_addr = rt.scratch_key(&key)?;
        calls += 1;
        if rt.call_back(callback, [map, key_addr, value.as_ptr() as u64, ctx, 0])? != 0 {
            break;
        }
    }
    Ok(calls)
}

/// `long bpf_tail_call(void *ctx, struct bpf_map *prog_array_map, u32 index)`:
/// on success the engine continues in the target program, in the current
/// frame, and never returns here. On failure the program goes on with
/// `r0 = -ENOENT`. As in the kernel, an attempt past the index check counts
/// against the limit of 33 even if the slot is empty.
pub(crate) fn tail_call(rt: &mut Runtime, [_ctx, map, index, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = rt.map_arg(map)?;
    let m = rt.map(id).expect("map_arg returns live ids");
    let Some(progs) = m.as_prog_array() else {
        return Err(rt.bad_arg(format!("map {id} is not a prog array")));
    };
    let index = index as u32;
    if index >= m.spec().max_entries {
        return Ok(ENOENT);
    }
    let target = progs.get(index);
    let vm = rt.vm();
    if vm.tail_call_count >= MAX_TAIL_CALL_CNT {
        return Ok(ENOENT);
    }
    vm.tail_call_count += 1;
    let Some(target) = target else { return Ok(ENOENT) };
    vm.tail_call_target = target;
    vm.status = status::TAIL_CALL;
    Ok(0)
}

/// `long bpf_redirect_map(struct bpf_map *map, u64 key, u64 flags)` (XDP):
/// `XDP_REDIRECT` when the key holds a target (or with `BPF_F_BROADCAST`),
/// else the action in the flags' low bits.
pub(crate) fn redirect_map(rt: &mut Runtime, [map, key, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = rt.map_arg(map)?;
    let m = rt.map(id).expect("map_arg returns live ids");
    let Some(targets) = m.as_redirect() else {
        return Err(rt.bad_arg(format!("map {id} is not a devmap, cpumap or xskmap")));
    };
    if flags & !(BPF_F_ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS) != 0 {
        return Ok(XDP_ABORTED);
    }
    let key = key as u32;
    let found = flags & BPF_F_BROADCAST != 0 || targets.target(key).is_some();
    if !found {
        rt.set_redirect(None);
        return Ok(flags & BPF_F_ACTION_MASK);
    }
    rt.set_redirect(Some(Redirect::Map { map: id, key, flags }));
    Ok(XDP_REDIRECT)
}

/// `long bpf_perf_event_output(void *ctx, struct bpf_map *map, u64 flags, void *data, u64 size)`.
/// With a packet context, `BPF_F_CTXLEN_MASK` appends that many packet
/// bytes to the sample (as the skb and XDP variants do).
pub(crate) fn perf_event_output(rt: &mut Runtime, [_ctx, map, flags, data, size]: [u64; 5]) -> Result<u64, Fault> {
    let id = rt.map_arg(map)?;
    let allowed = match rt.ctx().kind() {
        ContextKind::Raw => BPF_F_INDEX_MASK,
        ContextKind::Xdp | ContextKind::Skb => BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK,
    };
    if flags & !allowed != 0 {
        return Ok(EINVAL);
    }
    let mut sample = rt.read_mem(data, size)?;
    let ctx_len = ((flags & BPF_F_CTXLEN_MASK) >> 32) as usize;
    if ctx_len > 0 {
        let packet = rt.ctx().packet().map(|p| p.bytes()).unwrap_or_default();
        let Some(bytes) = packet.get(..ctx_len) else { return Ok(super::errno::EFAULT) };
        sample.extend_from_slice(bytes);
    }
    let cpu = rt.config().cpu;
    let m = map_at(rt, id);
    let Some(perf) = m.as_perf_event_array() else {
        return Err(rt.bad_arg(format!("map {id} is not a perf event array")));
    };
    Ok(status_of(perf.output(cpu, flags & BPF_F_INDEX_MASK, &sample)))
}

fn ringbuf_of(rt: &mut Runtime, map: u64) -> Result<MapId, Fault> {
    let id = rt.map_arg(map)?;
    if rt.map(id).is_some_and(|m| m.spec().map_type == MapType::Ringbuf) {
        Ok(id)
    } else {
        Err(rt.bad_arg(format!("map {id} is not a ring buffer")))
    }
}

fn ring(rt: &mut Runtime, id: MapId) -> &mut crate::maps::RingBuf {
    map_at(rt, id).as_ringbuf().expect("ringbuf_of checked the type")
}

/// `long bpf_ringbuf_output(void *ringbuf, void *data, u64 size, u64 flags)`.
pub(crate) fn ringbuf_output(rt: &mut Runtime, [map, data, size, flags, _]: [u64; 5]) -> Result<u64, Fault> {
    let id = ringbuf_of(rt, map)?;
    let data = rt.read_mem(data, size)?;
    Ok(status_of(ring(rt, id).output(&data, flags)))
}

/// `void *bpf_ringbuf_reserve(void *ringbuf, u64 size, u64 flags)`.
pub(crate) fn ringbuf_reserve(rt: &mut Runtime, [map, size, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = ringbuf_of(rt, map)?;
    Ok(ring(rt, id).reserve(size, flags).map_or(0, |p| p.as_ptr() as u64))
}

/// The ring buffer a reserved record lives in.
fn ring_holding(rt: &mut Runtime, sample: u64) -> Result<MapId, Fault> {
    let ids: Vec<MapId> = rt.maps().filter(|(_, m)| m.spec().map_type == MapType::Ringbuf).map(|(id, _)| id).collect();
    ids.into_iter()
        .find(|&id| ring(rt, id).contains(sample))
        .ok_or_else(|| rt.bad_arg(format!("{sample:#x} is not a ring buffer record")))
}

/// `void bpf_ringbuf_submit(void *data, u64 flags)`.
pub(crate) fn ringbuf_submit(rt: &mut Runtime, [sample, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = ring_holding(rt, sample)?;
    ring(rt, id).submit(sample, flags).map_err(|e| rt.bad_arg(format!("submitting {sample:#x}: {e}")))?;
    Ok(0)
}

/// `void bpf_ringbuf_discard(void *data, u64 flags)`.
pub(crate) fn ringbuf_discard(rt: &mut Runtime, [sample, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = ring_holding(rt, sample)?;
    ring(rt, id).discard(sample, flags).map_err(|e| rt.bad_arg(format!("discarding {sample:#x}: {e}")))?;
    Ok(0)
}

/// `u64 bpf_ringbuf_query(void *ringbuf, u64 flags)`.
pub(crate) fn ringbuf_query(rt: &mut Runtime, [map, flags, ..]: [u64; 5]) -> Result<u64, Fault> {
    let id = ringbuf_of(rt, map)?;
    Ok(ring(rt, id).query(flags))
}

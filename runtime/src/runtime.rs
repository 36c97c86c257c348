//! [`Runtime`]: the state programs run against — maps, helpers, the stack,
//! the clock and the rest of the world a helper can observe — and the
//! protocol an engine follows for one run.

use std::any::Any;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bpfx_isa::abi::{MapType, ProgType};
use bpfx_isa::{CallTarget, HelperId, Insn, InsnIdx, LdImm64Kind, MapSpec, Program};

use crate::buffer::Buffer;
use crate::config::{COARSE_TICK_NS, Clock, Config};
use crate::context::Context;
use crate::engine::{LoadError, ProgId, RunError, RunResult, TopRun};
use crate::fault::{Access, AccessKind, Fault};
use crate::helpers;
use crate::maps::{self, CreateError, Map};
use crate::region::{self, FRAME_SIZE, MAX_FRAMES, MapId, Region, RegionKind};
use crate::vmctx::{CallbackFn, HelperFn, MapSlot, VmCtx, status};

/// Map handles (what `lddw` of a map loads) are this plus the map's id: an
/// address no region contains, so a program cannot dereference one.
pub const MAP_HANDLE_BASE: u64 = 0xffff_8880_0000_0000;

/// Bytes of scratch per frame, at least (a map's key must fit).
const MIN_SCRATCH_SLOT: usize = 64;

/// Helper ids the table has room for (the kernel's are below 212).
const HELPER_TABLE_SIZE: usize = 256;

/// A program as the runtime knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    pub name: String,
    pub prog_type: ProgType,
    /// The runtime maps behind the program's map indices.
    pub maps: Vec<MapId>,
}

/// Where the last `bpf_redirect*` asked the packet to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// `bpf_redirect(ifindex, flags)`.
    Ifindex { ifindex: u32, flags: u64 },
    /// `bpf_redirect_map(map, key, flags)` that found its key.
    Map { map: MapId, key: u32, flags: u64 },
}

/// Everything programs run against. One runtime may hold many programs
/// (loaded by any engine), sharing maps by name as one ELF object's
/// programs do.
pub struct Runtime {
    /// Tells runtimes apart, so an engine can refuse to mix them.
    id: u64,
    config: Config,
    maps: Vec<Box<dyn Map>>,
    map_slots: Vec<MapSlot>,
    map_regions: Vec<Region>,
    /// The maps with work to do at the end of a run ([`Map::ends_runs`]),
    /// so a run visits no other.
    end_run_maps: Vec<u32>,
    programs: Vec<ProgInfo>,
    helpers: Vec<Option<HelperFn>>,
    regions: Vec<Region>,
    stack: Buffer,
    /// Per-frame slots for copies helpers pass to callbacks.
    scratch: Buffer,
    scratch_slot: usize,
    /// The run's context (null between runs).
    ctx: *mut Context,
    /// The VM context runs use: allocated once, so its address is stable
    /// and a run starts by resetting a few fields.
    vm_ctx: NonNull<VmCtx>,
    /// Whether the region table and the VM context's fixed fields must be
    /// rebuilt (a map was created, the configuration changed) rather than
    /// refreshed for a new context.
    regions_stale: bool,
    /// The running program's VM context, as the helper dispatch saw it
    /// (null between runs).
    pub(crate) vm: *mut VmCtx,
    /// The helper running, for the faults it raises.
    pub(crate) helper: HelperId,
    clock_ns: u64,
    epoch: Instant,
    prng: u64,
    trace: Vec<String>,
    redirect: Option<Redirect>,
    /// Addresses of the `bpf_spin_lock`s held.
    pub(crate) locks: Vec<u64>,
    user_data: Option<Box<dyn Any>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("maps", &self.maps)
            .field("programs", &self.programs)
            .finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: `vm_ctx` came from `Box::leak` in `new` and is freed
        // once, here; no run outlives the runtime.
        drop(unsafe { Box::from_raw(self.vm_ctx.as_ptr()) });
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(Config::default())
    }
}

impl Runtime {
    /// A runtime with every built-in helper registered.
    pub fn new(config: Config) -> Runtime {
        let mut helpers = vec![None; HELPER_TABLE_SIZE];
        for &(id, _, f) in helpers::BUILTINS {
            helpers[id.0 as usize] = Some(f);
        }
        let clock_ns = match config.clock {
            Clock::Virtual { start_ns, .. } | Clock::Host { start_ns } => start_ns,
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Runtime {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            prng: config.seed,
            config,
            maps: Vec::new(),
            map_slots: Vec::new(),
            map_regions: Vec::new(),
            end_run_maps: Vec::new(),
            programs: Vec::new(),
            helpers,
            regions: Vec::new(),
            stack: Buffer::zeroed((MAX_FRAMES as u64 * FRAME_SIZE) as usize),
            scratch: Buffer::zeroed(MAX_FRAMES as usize * MIN_SCRATCH_SLOT),
            scratch_slot: MIN_SCRATCH_SLOT,
            ctx: std::ptr::null_mut(),
            vm_ctx: NonNull::from(Box::leak(Box::new(VmCtx {
                status: status::RUNNING,
                region_count: 0,
                regions: std::ptr::null_mut(),
                helpers: std::ptr::null(),
                helper_count: 0,
                map_count: 0,
                maps: std::ptr::null(),
                stack_top: 0,
                insn_budget: 0,
                insn_count: 0,
                tail_call_target: 0,
                tail_call_count: 0,
                callback: None,
                callback_env: std::ptr::null_mut(),
                runtime: std::ptr::null_mut(),
                fault_at: u32::MAX,
                cpu: 0,
                fault: None,
            }))),
            regions_stale: true,
            vm: std::ptr::null_mut(),
            helper: HelperId(0),
            clock_ns,
            epoch: Instant::now(),
            trace: Vec::new(),
            redirect: None,
            locks: Vec::new(),
            user_data: None,
        }
    }

    /// This runtime's identity, unique in the process: an engine's program
    /// ids belong to one runtime.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The address of the VM context every run of this runtime gets:
    /// fixed for the runtime's life, so code compiled for this runtime
    /// may hold it as a constant.
    pub fn vm_ctx_addr(&self) -> *mut VmCtx {
        self.vm_ctx.as_ptr()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the configuration; the clock and random state restart from
    /// the new one's.
    pub fn set_config(&mut self, config: Config) {
        self.clock_ns = match config.clock {
            Clock::Virtual { start_ns, .. } | Clock::Host { start_ns } => start_ns,
        };
        self.epoch = Instant::now();
        self.prng = config.seed;
        self.config = config;
        self.regions_stale = true;
    }

    // Helpers.

    /// Registers `f` for helper `id`, replacing a built-in or earlier one
    /// (how tests install mocks). Make `f` with [`crate::helper_fn!`].
    /// Programs already loaded keep the helper they were loaded with.
    pub fn register_helper(&mut self, id: HelperId, f: HelperFn) -> Result<(), HelperId> {
        let slot = self.helpers.get_mut(id.0 as usize).ok_or(id)?;
        *slot = Some(f);
        Ok(())
    }

    /// Removes helper `id`, so programs that call it are refused at load.
    pub fn unregister_helper(&mut self, id: HelperId) {
        if let Some(slot) = self.helpers.get_mut(id.0 as usize) {
            *slot = None;
        }
    }

    /// The function registered for helper `id`.
    pub fn helper(&self, id: HelperId) -> Option<HelperFn> {
        if id == HelperId::CORE_POISON {
            return Some(crate::helper_fn!(HelperId::CORE_POISON, core_poison));
        }
        self.helpers.get(id.0 as usize).copied().flatten()
    }

    /// State for user-registered helpers, kept across runs.
    pub fn set_user_data(&mut self, data: Box<dyn Any>) {
        self.user_data = Some(data);
    }

    pub fn user_data<T: Any>(&mut self) -> Option<&mut T> {
        self.user_data.as_mut()?.downcast_mut()
    }

    // Maps.

    /// Creates a map (with [`Config::cpus`] CPUs) and returns its id.
    pub fn create_map(&mut self, spec: &MapSpec) -> Result<MapId, CreateError> {
        let map = maps::create(spec, self.config.cpus)?;
        let slot = (spec.key_size as usize).next_multiple_of(8);
        if slot > self.scratch_slot {
            self.scratch = Buffer::zeroed(MAX_FRAMES as usize * slot);
            self.scratch_slot = slot;
        }
        let id = MapId(self.maps.len() as u32);
        let memory = map.memory();
        let (base, len) = memory.map_or((0, 0), |m| (m.base as u64, m.len as u64));
        self.map_slots.push(MapSlot {
            handle: MAP_HANDLE_BASE + u64::from(id.0),
            base,
            len,
            map_type: spec.map_type.value(),
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            key_size: spec.key_size,
        });
        if let Some(m) = memory.filter(|m| m.len > 0) {
            self.map_regions.push(Region::new(RegionKind::Map(id), m.base, m.len, !m.read_only));
        }
        if map.ends_runs() {
            self.end_run_maps.push(id.0);
        }
        self.regions_stale = true;
        self.maps.push(map);
        Ok(id)
    }

    /// The map named `name` (the first, if several share it).
    pub fn map_id(&self, name: &str) -> Option<MapId> {
        self.maps.iter().position(|m| m.spec().name == name).map(|i| MapId(i as u32))
    }

    pub fn map(&self, id: MapId) -> Option<&dyn Map> {
        self.maps.get(id.0 as usize).map(|m| &**m)
    }

    pub fn map_mut(&mut self, id: MapId) -> Option<&mut dyn Map> {
        match self.maps.get_mut(id.0 as usize) {
            Some(m) => Some(&mut **m),
            None => None,
        }
    }

    /// Every map with its id.
    pub fn maps(&self) -> impl Iterator<Item = (MapId, &dyn Map)> {
        self.maps.iter().enumerate().map(|(i, m)| (MapId(i as u32), &**m))
    }

    /// The value programs hold for map `id`.
    pub fn map_handle(&self, id: MapId) -> u64 {
        MAP_HANDLE_BASE + u64::from(id.0)
    }

    /// The map a handle names, if it names one.
    pub fn map_from_handle(&self, handle: u64) -> Option<MapId> {
        let id = u32::try_from(handle.checked_sub(MAP_HANDLE_BASE)?).ok()?;
        ((id as usize) < self.maps.len()).then_some(MapId(id))
    }

    /// The map `handle` names, or the fault a helper raises for a value that
    /// names none.
    pub(crate) fn map_arg(&self, handle: u64) -> Result<MapId, Fault> {
        self.map_from_handle(handle).ok_or_else(|| self.bad_arg(format!("{handle:#x} is not a map")))
    }

    /// Binds a program's map to the runtime's: a named map already here
    /// with the same definition is shared; an unnamed one is always new.
    fn bind_map(&mut self, spec: &MapSpec) -> Result<MapId, LoadError> {
        if !spec.name.is_empty()
            && let Some(id) = self.map_id(&spec.name)
        {
            let existing = self.maps[id.0 as usize].spec();
            let same =
                MapSpec { initial_data: None, ..existing.clone() } == MapSpec { initial_data: None, ..spec.clone() };
            return if same { Ok(id) } else { Err(LoadError::MapConflict { name: spec.name.clone() }) };
        }
        Ok(self.create_map(spec)?)
    }

    // Programs.

    /// The runtime half of loading a program, which engines call after
    /// checking its control flow: binds its maps, checks that every helper
    /// it calls is registered and every `lddw` resolves, and gives it an id.
    pub fn link(&mut self, program: &Program) -> Result<Linked, LoadError> {
        if program.insns.is_empty() {
            return Err(LoadError::Empty);
        }
        for (at, insn) in program.slots() {
            match *insn {
                Insn::Call(CallTarget::Helper(id)) if self.helper(id).is_none() => {
                    return Err(LoadError::UnknownHelper { at, id });
                }
                Insn::Call(CallTarget::Kfunc { btf_id, .. }) => return Err(LoadError::Kfunc { at, btf_id }),
                Insn::LdImm64 { kind: LdImm64Kind::BtfId, .. } => return Err(LoadError::BtfId { at }),
                _ => {}
            }
        }
        let maps = program.maps.iter().map(|spec| self.bind_map(spec)).collect::<Result<Vec<_>, _>>()?;
        let linked = Linked { id: ProgId(self.programs.len() as u32), maps };
        for (at, insn) in program.slots() {
            if let Insn::LdImm64 { kind, imm, .. } = *insn {
                self.ld_imm64(&linked, at, kind, imm)?;
            }
        }
        self.programs.push(ProgInfo {
            name: program.name.clone(),
            prog_type: program.prog_type,
            maps: linked.maps.clone(),
        });
        Ok(linked)
    }

    /// The value an `lddw` loads, for every kind but `BPF_PSEUDO_FUNC`
    /// (whose value is a code address only an engine knows).
    pub fn ld_imm64(&mut self, linked: &Linked, at: InsnIdx, kind: LdImm64Kind, imm: u64) -> Result<u64, LoadError> {
        let map = |idx: u64| {
            let idx = idx as u32;
            linked.maps.get(idx as usize).copied().ok_or(LoadError::NoSuchMap { at, idx, count: linked.maps.len() })
        };
        match kind {
            LdImm64Kind::Imm | LdImm64Kind::Func => Ok(imm),
            LdImm64Kind::BtfId => Err(LoadError::BtfId { at }),
            LdImm64Kind::MapFd | LdImm64Kind::MapIdx => Ok(self.map_handle(map(imm & 0xffff_ffff)?)),
            LdImm64Kind::MapValue | LdImm64Kind::MapIdxValue => {
                let id = map(imm & 0xffff_ffff)?;
                let off = (imm >> 32) as u32;
                let cpu = self.config.cpu;
                let m = &mut self.maps[id.0 as usize];
                let spec = m.spec().clone();
                if spec.map_type != MapType::Array || spec.max_entries != 1 {
                    return Err(LoadError::NoDirectValue { at, map: spec.name, map_type: spec.map_type.to_string() });
                }
                if off >= spec.value_size {
                    return Err(LoadError::ValueOffset { at, map: spec.name, off, value_size: spec.value_size });
                }
                let value = m.prog_lookup(&0u32.to_le_bytes(), cpu).ok_or(LoadError::NoDirectValue {
                    at,
                    map: spec.name.clone(),
                    map_type: spec.map_type.to_string(),
                })?;
                Ok(value.as_ptr() as u64 + u64::from(off))
            }
        }
    }

    pub fn program(&self, id: ProgId) -> Option<&ProgInfo> {
        self.programs.get(id.0 as usize)
    }

    /// The program loaded under `name` (the first, if several were).
    pub fn program_id(&self, name: &str) -> Option<ProgId> {
        self.programs.iter().position(|p| p.name == name).map(|i| ProgId(i as u32))
    }

    /// Fills the slots maps declare for themselves (an object's prog array
    /// of programs, map of maps of inner maps, by name) with the ids of the
    /// programs and maps loaded so far. Call it once an object's programs
    /// are loaded.
    pub fn apply_initial_slots(&mut self) -> Result<(), LoadError> {
        for i in 0..self.maps.len() {
            let spec = self.maps[i].spec().clone();
            for (index, name) in &spec.initial_slots {
                let target = match spec.map_type {
                    MapType::ProgArray => self.program_id(name).map(|p| p.0),
                    _ => self.map_id(name).map(|m| m.0),
                };
                let unresolved =
                    || LoadError::UnresolvedSlot { map: spec.name.clone(), index: *index, name: name.clone() };
                let target = target.ok_or_else(unresolved)?;
                self.maps[i]
                    .update(&index.to_ne_bytes(), &target.to_ne_bytes(), maps::flags::BPF_ANY)
                    .map_err(|source| LoadError::SlotUpdate { map: spec.name.clone(), index: *index, source })?;
            }
        }
        Ok(())
    }

    // The run protocol.

    /// The run protocol, for an engine's [`crate::Engine::run_repeated`]:
    /// starts a run on `ctx`, makes `top` run until a run faults or
    /// `repeat` runs (at least one) are made, resetting between runs what
    /// a run changed (`rerun`), and ends the run. `callback` and `env` are the
    /// engine's entry for callbacks ([`VmCtx::callback`]). Returns the last
    /// run's result, always `Ok` (the shape [`crate::Engine::run`] returns);
    /// `runs` is set to the number of runs.
    ///
    /// # Safety
    /// `top` must reach the runtime only through the VM context it is given
    /// (as helpers do), and `callback` must accept `env` for as long as the
    /// runs last.
    #[inline(always)]
    pub unsafe fn run_repeated<T: TopRun>(
        &mut self,
        ctx: &mut Context,
        repeat: u64,
        runs: &mut u64,
        callback: CallbackFn,
        env: *mut c_void,
        mut top: T,
    ) -> Result<RunResult, RunError> {
        let mut made = 1;
        // Every use of the runtime until the runs end goes through `me`,
        // the pointer helpers get in the VM context, so none invalidates it.
        let me: *mut Runtime = self;
        // SAFETY: `ctx` is borrowed for the whole call and not touched until
        // `end_run`; meanwhile `top` reaches the runtime only through `vm`,
        // as the function's contract says, and `rerun` between runs touches
        // neither the context nor a run in progress.
        let outcome = unsafe {
            let (vm, args) = (*me).begin_run(ctx);
            (*vm).runtime = me;
            (*vm).callback = Some(callback);
            (*vm).callback_env = env;
            top.begin(vm, args);
            loop {
                let outcome = top.run(vm);
                match outcome {
                    Ok(returned) if made >= repeat => break Ok(returned),
                    Ok(_) => {}
                    Err(stop) => break Err((stop, (*vm).insn_count)),
                }
                (*me).rerun();
                made += 1;
            }
        };
        // SAFETY: the runs are over; `me` is `self`.
        unsafe { (*me).end_run() };
        *runs = made;
        // Each arm builds the engine's return value in place: a result
        // built once and then moved into an `Ok` is copied in 16-byte
        // loads over its 8-byte stores, which stalls on store forwarding.
        match outcome {
            Ok(r) => Ok(RunResult::returned(r.r0, r.insns, r.last)),
            Err((stop, insns)) => Ok(RunResult::faulted(stop.into(), insns)),
        }
    }

    /// Starts a run on `ctx`: returns the VM context (reset for the run,
    /// at an address stable for the runtime's life) and `r1`..`r5`. The
    /// caller sets the context's runtime and callback.
    ///
    /// # Safety
    /// `ctx` must stay alive and untouched until [`Runtime::end_run`], and
    /// until then the engine must reach the runtime only through the VM
    /// context (as helpers do).
    #[inline(always)]
    unsafe fn begin_run(&mut self, ctx: &mut Context) -> (*mut VmCtx, [u64; 5]) {
        self.ctx = ctx;
        if self.regions_stale {
            self.rebuild_regions();
        }
        let [ctx_region, packet, meta] = ctx.regions();
        let vm = self.vm_ctx.as_ptr();
        // SAFETY: `vm_ctx` is the runtime's own allocation, and no run is
        // using it (runs do not nest); the table has its four fixed entries
        // since `rebuild_regions`.
        unsafe {
            let regions = (*vm).regions;
            *regions.add(region::CONTEXT_REGION) = ctx_region;
            *regions.add(region::PACKET_REGION) = packet;
            *regions.add(region::META_REGION) = meta;
        }
        self.reset_vm();
        (vm, ctx.entry_args())
    }

    /// Between two runs of a repetition on one context (as
    /// `BPF_PROG_TEST_RUN`'s `repeat` reruns on one buffer): finishes the
    /// run that returned as [`Runtime::end_run`] does, and resets the VM
    /// context for the next as [`Runtime::begin_run`] does, keeping the
    /// context and its regions (which helpers kept current when they moved
    /// the packet). Only helpers change the rest of what `end_run` and
    /// `begin_run` deal with (the engine's run resets the instruction
    /// count and the stack region, [`TopRun::run`]), so after a run that
    /// called none (the helper dispatch left `vm` null) nothing is reset.
    #[inline(always)]
    fn rerun(&mut self) {
        if self.vm.is_null() {
            return;
        }
        self.vm = std::ptr::null_mut();
        self.end_maps_run();
        self.reset_vm();
    }

    /// What every run starts from: no redirect, no lock held, the stack at
    /// frame 0 and the VM context's per-run fields cleared (but the
    /// instruction count, which the engine's run starts, [`TopRun::run`]).
    #[inline(always)]
    fn reset_vm(&mut self) {
        self.redirect = None;
        self.locks.clear();
        // SAFETY: `vm_ctx` is the runtime's own allocation, and no run is
        // using it (runs do not nest). The fields not reset here only
        // change with the runtime's maps or configuration, which mark the
        // regions stale, or are the engine's, which sets them; the fault
        // slot is empty between runs (engines take the fault).
        unsafe {
            let v = &mut *self.vm_ctx.as_ptr();
            // Only the stack's start and length move during a run (and the
            // packet's, which the context's regions cover). The table's
            // first entry is the stack since `rebuild_regions`.
            v.set_frames(0);
            v.status = status::RUNNING;
            v.tail_call_count = 0;
            v.fault_at = u32::MAX;
        }
    }

    /// Builds the region table and the VM context's fixed fields after a
    /// map was created or the configuration changed.
    #[cold]
    #[inline(never)]
    fn rebuild_regions(&mut self) {
        let top = self.stack.addr(self.stack.len());
        let stack = Region { start: top - FRAME_SIZE, len: FRAME_SIZE, writable: 1, kind: RegionKind::Stack };
        let empty = |kind| Region { start: 0, len: 0, writable: 0, kind };
        self.regions.clear();
        self.regions.extend([
            stack,
            empty(RegionKind::Context),
            empty(RegionKind::Packet),
            empty(RegionKind::PacketMeta),
        ]);
        self.regions.push(Region::new(RegionKind::Scratch, self.scratch.ptr(0), self.scratch.len(), false));
        self.regions.extend_from_slice(&self.map_regions);
        self.regions_stale = false;
        // SAFETY: `vm_ctx` is the runtime's own allocation, and no run is
        // using it (runs do not nest).
        let v = unsafe { &mut *self.vm_ctx.as_ptr() };
        v.region_count = self.regions.len() as u32;
        v.regions = self.regions.as_mut_ptr();
        v.helpers = self.helpers.as_ptr();
        v.helper_count = self.helpers.len() as u32;
        v.map_count = self.map_slots.len() as u32;
        v.maps = self.map_slots.as_ptr();
        v.stack_top = top;
        v.insn_budget = self.config.insn_budget;
        v.cpu = self.config.cpu;
    }

    /// Ends a run: lets go of the context and lets the maps that have
    /// something to finish (listed when they were created) finish the run.
    #[inline(always)]
    fn end_run(&mut self) {
        self.ctx = std::ptr::null_mut();
        self.vm = std::ptr::null_mut();
        self.end_maps_run();
    }

    #[inline(always)]
    fn end_maps_run(&mut self) {
        if !self.end_run_maps.is_empty() {
            self.end_maps_run_slow();
        }
    }

    #[inline(never)]
    fn end_maps_run_slow(&mut self) {
        for &i in &self.end_run_maps {
            self.maps[i as usize].end_run();
        }
    }

    /// The running program's context.
    pub(crate) fn ctx(&self) -> &Context {
        assert!(!self.ctx.is_null(), "context outside a run");
        // SAFETY: `begin_run`'s contract keeps the context alive and
        // untouched by anyone else until `end_run` nulls the pointer.
        unsafe { &*self.ctx }
    }

    pub(crate) fn ctx_mut(&mut self) -> &mut Context {
        assert!(!self.ctx.is_null(), "context outside a run");
        // SAFETY: as in `ctx`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.ctx }
    }

    /// The region table as the last run left it: what its addresses meant
    /// (for tools that explain runs, or compare runs made in two runtimes).
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Where the last run's `bpf_redirect*` sent the packet.
    pub fn redirect(&self) -> Option<Redirect> {
        self.redirect
    }

    pub(crate) fn set_redirect(&mut self, r: Option<Redirect>) {
        self.redirect = r;
    }

    /// Lines `bpf_trace_printk` wrote, oldest first.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    pub fn take_trace(&mut self) -> Vec<String> {
        std::mem::take(&mut self.trace)
    }

    pub(crate) fn push_trace(&mut self, line: String) {
        self.trace.push(line);
    }

    // The world helpers observe.

    /// Reads the clock (`CLOCK_MONOTONIC`); a virtual clock advances.
    pub(crate) fn now_ns(&mut self) -> u64 {
        match self.config.clock {
            Clock::Virtual { step_ns, .. } => {
                let now = self.clock_ns;
                self.clock_ns = now.wrapping_add(step_ns);
                now
            }
            Clock::Host { start_ns } => start_ns.wrapping_add(self.epoch.elapsed().as_nanos() as u64),
        }
    }

    pub(crate) fn coarse_ns(&mut self) -> u64 {
        let now = self.now_ns();
        now - now % COARSE_TICK_NS
    }

    /// Sets a virtual clock (a replay sets it to each packet's time).
    pub fn set_time_ns(&mut self, ns: u64) {
        self.clock_ns = ns;
    }

    /// The next pseudo-random number (SplitMix64 over the seed).
    pub(crate) fn next_random(&mut self) -> u64 {
        self.prng = self.prng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.prng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    // Memory, as helpers reach it.

    /// Replaces region `i` of the running program's table (a helper moved
    /// the packet's bounds).
    pub(crate) fn set_region(&mut self, i: usize, r: Region) {
        assert!(i < self.regions.len(), "region {i} of {}", self.regions.len());
        // SAFETY: `i` is in bounds; writing through the vector's pointer
        // keeps the pointer the engine holds (derived the same way) valid.
        unsafe { self.regions.as_mut_ptr().add(i).write(r) }
    }

    /// Refreshes the packet regions and context struct after a helper
    /// changed the packet's bounds.
    pub(crate) fn packet_moved(&mut self) {
        self.ctx_mut().sync();
        let [_, packet, meta] = self.ctx().regions();
        self.set_region(region::PACKET_REGION, packet);
        self.set_region(region::META_REGION, meta);
    }

    /// Checks that the running helper may touch `len` bytes at `addr`.
    pub(crate) fn check_mem(&self, addr: u64, len: u64, write: bool) -> Result<(), Fault> {
        let kind = if write { AccessKind::HelperWrite(self.helper) } else { AccessKind::HelperRead(self.helper) };
        region::check(&self.regions, addr, Access { kind, size: len })
    }

    /// A copy of `len` bytes of program memory at `addr`.
    pub(crate) fn read_mem(&self, addr: u64, len: u64) -> Result<Vec<u8>, Fault> {
        self.check_mem(addr, len, false)?;
        let mut out = vec![0; len as usize];
        // SAFETY: `check_mem` proved `addr..addr + len` lies in one region,
        // memory the runtime or a map owns for the whole run; `out` is a
        // separate allocation.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(out)
    }

    /// A copy of `len` bytes of program memory at `addr`, on the stack when
    /// it is small (a map's key or value): the map helpers take one per
    /// call, and a heap copy was most of a map lookup's cost.
    pub(crate) fn copy_mem(&self, addr: u64, len: u64) -> Result<MemCopy, Fault> {
        self.check_mem(addr, len, false)?;
        let n = len as usize;
        if n > INLINE_COPY {
            return self.read_mem(addr, len).map(MemCopy::Heap);
        }
        let mut bytes = [0u8; INLINE_COPY];
        // SAFETY: as in `read_mem`; `n` fits `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), n) };
        Ok(MemCopy::Inline { bytes, len: n })
    }

    /// Writes `data` into program memory at `addr`.
    pub(crate) fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        self.check_mem(addr, data.len() as u64, true)?;
        // SAFETY: `check_mem` proved the range lies in one writable region
        // owned for the whole run; `copy` allows `data` to overlap it.
        unsafe { std::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    pub(crate) fn read_u32(&self, addr: u64) -> Result<u32, Fault> {
        let b = self.read_mem(addr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), Fault> {
        self.write_mem(addr, &v.to_le_bytes())
    }

    /// A fault for an argument no verified program passes.
    pub(crate) fn bad_arg(&self, reason: impl Into<String>) -> Fault {
        Fault::BadHelperArg { helper: self.helper, reason: reason.into() }
    }

    /// Copies `key` into the scratch slot of the current frame and returns
    /// its address (read-only to the program).
    pub(crate) fn scratch_key(&mut self, key: &[u8]) -> Result<u64, Fault> {
        let top = self.stack.addr(self.stack.len());
        let frames = ((top - self.regions[region::STACK_REGION].start) / FRAME_SIZE) as usize;
        let off = frames.saturating_sub(1).min(MAX_FRAMES as usize - 1) * self.scratch_slot;
        if key.len() > self.scratch_slot {
            return Err(self.bad_arg(format!("key of {} bytes does not fit the scratch slot", key.len())));
        }
        self.scratch.write(off, key);
        Ok(self.scratch.addr(off))
    }

    /// Calls the program's subprogram at `target` (a callback of `bpf_loop`
    /// or `bpf_for_each_map_elem`) with `args`, in a new frame.
    pub(crate) fn call_back(&mut self, target: u64, args: [u64; 5]) -> Result<u64, Fault> {
        let vm = self.vm;
        assert!(!vm.is_null(), "callback outside a run");
        let me: *mut Runtime = self;
        // SAFETY: `vm` is the live context of the running program (set by
        // the helper dispatch). The nested run reaches the runtime through
        // `me`, derived from `self`, which is not used until it returns.
        unsafe {
            let Some(callback) = (*vm).callback else {
                return Err(Fault::BadHelperArg { helper: (*me).helper, reason: "engine cannot call back".into() });
            };
            let outer = (*vm).runtime;
            let helper = (*me).helper;
            (*vm).runtime = me;
            let r0 = callback(vm, target, args[0], args[1], args[2], args[3], args[4]);
            (*vm).runtime = outer;
            (*me).vm = vm;
            (*me).helper = helper;
            if (*vm).status == status::FAULT {
                (*vm).status = status::RUNNING;
                let fault = (*vm).fault.take().expect("a faulted callback records its fault");
                return Err(fault);
            }
            Ok(r0)
        }
    }

    /// The VM context of the running program.
    pub(crate) fn vm(&mut self) -> &mut VmCtx {
        assert!(!self.vm.is_null(), "helper outside a run");
        // SAFETY: set by the helper dispatch to the live context; the engine
        // does not touch it while the helper runs.
        unsafe { &mut *self.vm }
    }
}

/// Bytes up to which [`Runtime::copy_mem`] copies onto the stack.
const INLINE_COPY: usize = 64;

/// A copy of program memory (see [`Runtime::copy_mem`]).
pub(crate) enum MemCopy {
    Inline { bytes: [u8; INLINE_COPY], len: usize },
    Heap(Vec<u8>),
}

impl std::ops::Deref for MemCopy {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            MemCopy::Inline { bytes, len } => &bytes[..*len],
            MemCopy::Heap(v) => v,
        }
    }
}

/// What [`Runtime::link`] resolved for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub id: ProgId,
    /// The runtime map behind each of the program's map indices.
    pub maps: Vec<MapId>,
}

/// What libbpf's poisoned call does when a run reaches it.
fn core_poison(_: &mut Runtime, _: [u64; 5]) -> Result<u64, Fault> {
    Err(Fault::CoreRelocation)
}

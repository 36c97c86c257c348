//! Soundness: whenever bpfx accepts a generated program, running it in the
//! interpreter (the reference engine, every access checked) never faults;
//! in particular no access the verifier marked safe (`Report::proven`, the
//! facts that let the JIT drop its checks) ever leaves its region. Each
//! generated program is judged as generated (a raw program on `--mem`
//! bytes) and again as an XDP and a tc program on a packet of those bytes,
//! where its context accesses are converted as the runtime converts them
//! and the facts carried over as the CLI carries them (`convert_proven`),
//! so that context and packet facts are exercised too. Programs come from
//! `bpfx_testkit::generate` over bytes from a fixed seed, so a failure
//! reproduces; an input that ever turns up a fault is to be saved as a file
//! in `tests/soundness/`, which is replayed first.

#[allow(dead_code)]
mod support;

use arbitrary::Unstructured;
use bpfx_interpreter::Interpreter;
use bpfx_isa::abi::ProgType;
use bpfx_isa::{Program, Proven};
use bpfx_runtime::context::convert::convert_proven;
use bpfx_runtime::{Config, Exit};
use bpfx_testkit::diff::{Input, Setup, outcome};
use bpfx_testkit::generate;
use bpfx_verifier::{Options, verify};
use support::bytes;

/// Generated programs tried per test run.
const CASES: u64 = 50_000;

/// What the accepted programs of a run of the test had marked.
#[derive(Default)]
struct Tally {
    /// Accepted programs, and marked accesses in them, per program type.
    accepted: [u64; 3],
    marked: [u64; 3],
    /// Accepted programs whose facts the conversion withheld.
    withheld: [u64; 3],
}

/// The program types each generated program is judged as, with its input.
fn variants(program: &Program, mem: &[u8]) -> [(Program, Input); 3] {
    let retyped = |prog_type| Program { prog_type, ..program.clone() };
    [
        (program.clone(), Input::Raw(mem.to_vec())),
        (retyped(ProgType::Xdp), Input::Xdp(mem.to_vec())),
        (retyped(ProgType::SchedCls), Input::Skb(mem.to_vec())),
    ]
}

/// Checks one input, counting what was accepted and marked into `tally`.
fn check(data: &[u8], tally: &mut Tally) -> Result<(), String> {
    let Ok(g) = generate::program(&mut Unstructured::new(data)) else { return Ok(()) };
    let Input::Raw(mem) = &g.input else { return Err("the generator gave a program no raw input".into()) };
    for (i, (program, input)) in variants(&g.program, mem).into_iter().enumerate() {
        let report = verify(&program, &Options::default());
        let Some(proven) = report.proven else { continue };
        let listing = bpfx_isa::disasm::Listing::new(&program.insns).to_string();
        let what = format!("{} program", program.prog_type);
        // The engines run what the runtime's conversion makes of it, with
        // the facts that carry over.
        let (program, proven) = match convert_proven(&program, &proven) {
            Ok((p, facts)) => {
                tally.withheld[i] += u64::from(facts.is_none());
                let facts = facts.unwrap_or_else(|| Proven::new(&p));
                (p, facts)
            }
            Err(e) => return Err(format!("bpfx accepted a {what} the runtime cannot convert: {e}\n{listing}")),
        };
        tally.accepted[i] += 1;
        tally.marked[i] += proven.safe_access_count() as u64;
        // The kernel's budget bounds every path the verifier explored.
        let setup =
            Setup { config: Config { insn_budget: 1_000_000, ..Config::default() }, runs: 2, ..Setup::default() };
        let out = outcome(&mut Interpreter::new(), &program, &input, &setup);
        if let Err(e) = &out.load {
            return Err(format!("bpfx accepted a {what} the interpreter refuses to load: {e}\n{listing}"));
        }
        for run in &out.runs {
            match run.exit {
                Exit::Fault { at, .. } if proven.access_is_safe(at) => {
                    return Err(format!(
                        "insn {at} of a {what} was proved safe, but it faults: {}\n{listing}",
                        run.exit
                    ));
                }
                Exit::Fault { .. } => {
                    return Err(format!("bpfx accepted a {what} that faults: {}\n{listing}", run.exit));
                }
                Exit::Return(_) => {}
            }
        }
    }
    Ok(())
}

#[test]
fn accepted_programs_never_fault_in_the_interpreter() {
    let mut tally = Tally::default();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/soundness");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).expect("regression input is readable");
            if let Err(why) = check(&data, &mut tally) {
                panic!("{}: {why}", e.path().display());
            }
        }
    }
    for seed in 0..CASES {
        let data = bytes(seed, 512);
        if let Err(why) = check(&data, &mut tally) {
            panic!("seed {seed}: {why}");
        }
    }
    for (i, kind) in ["raw", "xdp", "tc"].iter().enumerate() {
        eprintln!(
            "soundness: as {kind} programs, {} of {CASES} generated programs accepted, with {} accesses marked safe (facts withheld from {} whose conversion differs); none faulted",
            tally.accepted[i], tally.marked[i], tally.withheld[i]
        );
        assert!(tally.marked[i] > 0, "no {kind} program had a marked access, so the facts were not checked");
    }
}

/// Packet programs shaped to pass the verifier often: bounds checks of
/// every form against `data_end` (and `data` for metadata), constant and
/// variable offsets just inside and just outside what was checked, map
/// values with checked and unchecked indices, stack accesses at variable
/// offsets, ring buffer records, context fields, and the XDP helpers that
/// move the packet in between. The checks are the verifier's business; a
/// program it accepts must then never fault, whatever the packet.
mod shaped {
    use arbitrary::{Result, Unstructured};

    /// How much a generated offset may overshoot what a check proved.
    const SLACK: i64 = 3;

    fn size(u: &mut Unstructured) -> Result<(&'static str, i64)> {
        Ok([("u8", 1), ("u16", 2), ("u32", 4), ("u64", 8)][u.choose_index(4)?])
    }

    /// A load from or a store to `base + off` of a random size.
    fn access(u: &mut Unstructured, base: &str, off: i64) -> Result<String> {
        let (ty, _) = size(u)?;
        sized_access(u, base, off, ty)
    }

    /// An access of a random size ending at `base + end`, or a byte short
    /// of it or past it.
    fn access_ending(u: &mut Unstructured, base: &str, end: i64) -> Result<String> {
        let (ty, bytes) = size(u)?;
        let off = end - bytes + u.int_in_range(-1..=1)?;
        sized_access(u, base, off, ty)
    }

    fn sized_access(u: &mut Unstructured, base: &str, off: i64, ty: &str) -> Result<String> {
        let at = if off < 0 { format!("{base} - {}", -off) } else { format!("{base} + {off}") };
        Ok(if u.arbitrary()? { format!("r0 = *({ty} *)({at})") } else { format!("*({ty} *)({at}) = r0") })
    }

    /// r0 = a number the verifier knows only as `0..=mask`: a packet byte
    /// (0 when the packet is shorter), masked. Test packets hold chosen
    /// bytes, so runs reach the ends of the range, which a random number
    /// would seldom do.
    fn var(u: &mut Unstructured, mask: u32, likely: u32) -> Result<String> {
        let at = if u.arbitrary()? { likely } else { u.int_in_range(0..=20)? };
        Ok(format!("r0 = 0\nr4 = r7\nr4 += {}\nif r4 > r8 goto +1\nr0 = *(u8 *)(r7 + {at})\nr0 &= {mask}", at + 1))
    }

    /// `if end < base + reach`, in one of its forms, jumps to `skip`.
    fn check(u: &mut Unstructured, reg: &str, end: &str, skip: &str) -> Result<String> {
        Ok(match u.choose_index(5)? {
            0 => format!("if {reg} > {end} goto {skip}"),
            1 => format!("if {end} < {reg} goto {skip}"),
            2 => format!("if {reg} >= {end} goto {skip}"),
            3 => format!("if {end} <= {reg} goto {skip}"),
            _ => format!("if {end} >= {reg} goto +1\ngoto {skip}"),
        })
    }

    /// A program's text (r6 holds the context, r7 `data`, r8 `data_end`,
    /// r9 `data_meta` on XDP) and whether it is an XDP program (else tc).
    pub fn program(u: &mut Unstructured) -> Result<(String, bool)> {
        let xdp = u.arbitrary()?;
        let (data, end, meta) = if xdp { (0, 4, 8) } else { (76, 80, 140) };
        let reload = format!(
            "r7 = *(u32 *)(r6 + {data})\nr8 = *(u32 *)(r6 + {end}){}",
            if xdp { format!("\nr9 = *(u32 *)(r6 + {meta})") } else { String::new() }
        );
        let mut text = format!("r6 = r1\nr0 = 0\n*(u64 *)(r10 - 8) = 0\n*(u64 *)(r10 - 16) = 0\n{reload}\n");
        let blocks = u.int_in_range(1..=6)?;
        for b in 0..blocks {
            let skip = format!("skip{b}");
            let k: i64 = u.int_in_range(0..=40)?;
            let off = u.int_in_range(-SLACK..=k + SLACK)?;
            let block = match u.int_in_range(0..=9)? {
                // A constant reach past data, checked, then an access.
                0 | 1 => {
                    let base = if u.arbitrary()? { "r7" } else { "r4" };
                    let off = if base == "r4" { off - k } else { off };
                    format!("r4 = r7\nr4 += {k}\n{}\n{}", check(u, "r4", "r8", &skip)?, access(u, base, off)?)
                }
                // A variable offset into the packet, masked, then checked.
                2 => {
                    let mask = [7, 15, 63, 255][u.choose_index(4)?];
                    format!(
                        "{}\nr4 = r7\nr4 += r0\nr5 = r4\nr5 += {k}\n{}\n{}",
                        var(u, mask, mask.min(20))?,
                        check(u, "r5", "r8", &skip)?,
                        access(u, "r4", off)?
                    )
                }
                // Metadata in front of the packet, checked against data.
                3 if xdp => format!(
                    "r1 = r6\nr2 = {}\ncall 54\n{reload}\nr4 = r9\nr4 += {k}\n{}\n{}",
                    -4 * u.int_in_range(0..=8)?,
                    check(u, "r4", "r7", &skip)?,
                    access(u, "r9", off)?
                ),
                // The packet moved: the pointers into it are reloaded (or not).
                4 if xdp => {
                    let (helper, delta) =
                        if u.arbitrary()? { (44, u.int_in_range(-64..=64)?) } else { (65, u.int_in_range(-64..=32)?) };
                    // Without the reload, what follows must be refused.
                    let again = if u.ratio(3, 4)? { reload.as_str() } else { "" };
                    format!("r1 = r6\nr2 = {delta}\ncall {helper}\n{again}")
                }
                // A map value at a checked (or not quite) variable index.
                5 | 6 => {
                    let (map, key, limit) = (u.int_in_range(0..=2)?, u.int_in_range(0..=1)?, u.int_in_range(0..=16)?);
                    let access = if u.arbitrary()? {
                        access_ending(u, "r5", 16 - i64::from(limit))?
                    } else {
                        let off = u.int_in_range(-SLACK..=16)?;
                        access(u, "r5", off)?
                    };
                    format!(
                        "*(u32 *)(r10 - 4) = {key}\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nld_pseudo r1, 1, {map}\nr4 = 0\ncall 2\n\
                         r2 = r10\nr2 += -4\nld_pseudo r1, 1, {map}\ncall 1\nif r0 == 0 goto {skip}\nr5 = r0\n{}\n\
                         if r0 > {limit} goto {skip}\nr5 += r0\n{}",
                        var(u, 31, limit)?,
                        access
                    )
                }
                // The stack at a variable offset.
                7 => {
                    let (mask, off) = ([7, 8, 15][u.choose_index(3)?], u.int_in_range(-4..=4)?);
                    format!("{}\nr4 = r10\nr4 += -16\nr4 += r0\n{}", var(u, mask, mask)?, access(u, "r4", off)?)
                }
                // A ring buffer record.
                8 => format!(
                    "ld_pseudo r1, 1, 3\nr2 = {k}\nr3 = 0\ncall 131\nif r0 == 0 goto {skip}\nr5 = r0\n{}\nr1 = r5\nr2 = 0\ncall 132\nr0 = 0",
                    access(u, "r5", off)?
                ),
                // A context field.
                _ => {
                    let off = 4 * u.int_in_range(-1..=50)?;
                    access(u, "r6", off)?
                }
            };
            text.push_str(&format!("{block}\n{skip}:\n"));
        }
        text.push_str(&format!("r0 = {}\nexit\n", if xdp { 2 } else { 0 }));
        Ok((text, xdp))
    }
}

/// The maps shaped programs use: an array, a hash, a per-CPU array (4-byte
/// keys, 16-byte values, one entry, so that the end of a value is the end
/// of the map's memory) and a ring buffer.
fn shaped_maps() -> Vec<bpfx_isa::MapSpec> {
    use bpfx_isa::abi::MapType;
    let map = |map_type: MapType, key_size, value_size, max_entries| bpfx_isa::MapSpec {
        name: map_type.name().into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        ..bpfx_isa::MapSpec::default()
    };
    vec![
        map(MapType::Array, 4, 16, 1),
        map(MapType::Hash, 4, 16, 1),
        map(MapType::PercpuArray, 4, 16, 1),
        map(MapType::Ringbuf, 0, 0, 4096),
    ]
}

/// Shaped packet programs tried per test run.
const SHAPED_CASES: u64 = 12_000;

#[test]
fn accepted_packet_programs_never_fault_and_their_marks_hold() {
    let (mut accepted, mut marked) = (0u64, 0u64);
    for seed in 0..SHAPED_CASES {
        let data = bytes(seed, 256);
        let Ok((text, xdp)) = shaped::program(&mut Unstructured::new(&data)) else { continue };
        let insns = bpfx_isa::assemble(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let prog_type = if xdp { ProgType::Xdp } else { ProgType::SchedCls };
        let mut program = Program::new("shaped", prog_type, insns);
        program.license = "GPL".into();
        program.maps = shaped_maps();
        let Some(proven) = verify(&program, &Options::default()).proven else { continue };
        let (converted, proven) = convert_proven(&program, &proven)
            .unwrap_or_else(|e| panic!("seed {seed}: the runtime cannot convert it: {e}"));
        let proven = proven.unwrap_or_else(|| panic!("seed {seed}: the conversion withholds the facts\n{text}"));
        accepted += 1;
        marked += proven.safe_access_count() as u64;
        let setup = Setup { config: Config::default(), runs: 2, ..Setup::default() };
        for (len, fill) in [0, 13, 14, 20, 33, 34, 60, 100].into_iter().flat_map(|l| [(l, 0), (l, 0xff)]) {
            let packet: Vec<u8> = (0..len as u8).map(|b| b | fill).collect();
            let input = if xdp { Input::Xdp(packet) } else { Input::Skb(packet) };
            let out = outcome(&mut Interpreter::new(), &converted, &input, &setup);
            if let Err(e) = &out.load {
                panic!("seed {seed}: bpfx accepted a program the interpreter refuses to load: {e}\n{text}");
            }
            for run in &out.runs {
                if let Exit::Fault { at, .. } = run.exit {
                    let why = if proven.access_is_safe(at) { "was proved safe, but it faults" } else { "faults" };
                    panic!("seed {seed}, a {len}-byte packet: insn {at} {why}: {}\n{text}", run.exit);
                }
            }
        }
    }
    eprintln!(
        "soundness: {accepted} of {SHAPED_CASES} shaped packet programs accepted, with {marked} accesses marked safe; none faulted on packets of 0 to 100 bytes, counting up or all 0xff"
    );
    assert!(marked > 0, "no shaped program had a marked access, so the facts were not checked");
}

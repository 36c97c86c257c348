//! A minimal ELF64 little-endian writer for crafted objects: the loader's and
//! the CLI's tests build malformed objects with exactly one thing wrong
//! (a bad instruction, a misaligned symbol, a relocation out of range), which
//! clang would never emit.
//!
//! Layout: ELF header, section contents, `.shstrtab`, `.strtab`, `.symtab`,
//! then the section header table.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

pub const EM_BPF: u16 = 247;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_REL: u32 = 9;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;
pub const STT_NOTYPE: u8 = 0;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const R_BPF_64_64: u32 = 1;
pub const R_BPF_64_32: u32 = 10;

/// A relocation entry: `(offset, type, symbol index)`.
pub type RelEntry = (u64, u32, u32);

struct Section {
    name: String,
    sh_type: u32,
    flags: u64,
    data: Vec<u8>,
    link: u32,
    info: u32,
    entsize: u64,
}

struct Symbol {
    name: String,
    section: u16,
    value: u64,
    size: u64,
    info: u8,
}

/// An object under construction. Section indices start at 1 (0 is the null
/// section); symbol indices at 1 (0 is the null symbol).
pub struct Elf {
    machine: u16,
    sections: Vec<Section>,
    symbols: Vec<Symbol>,
    rels: Vec<(u32, Vec<RelEntry>)>,
}

impl Default for Elf {
    fn default() -> Self {
        Elf { machine: EM_BPF, sections: Vec::new(), symbols: Vec::new(), rels: Vec::new() }
    }
}

impl Elf {
    pub fn machine(mut self, machine: u16) -> Self {
        self.machine = machine;
        self
    }

    /// Adds a section; returns its index.
    pub fn section(&mut self, name: &str, sh_type: u32, flags: u64, data: &[u8]) -> u16 {
        self.sections.push(Section {
            name: name.to_string(),
            sh_type,
            flags,
            data: data.to_vec(),
            link: 0,
            info: 0,
            entsize: 0,
        });
        self.sections.len() as u16
    }

    /// Adds an executable section holding `slots` (8-byte words).
    pub fn code(&mut self, name: &str, slots: &[u64]) -> u16 {
        let data: Vec<u8> = slots.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.section(name, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, &data)
    }

    /// Adds a symbol; returns its index.
    pub fn symbol(&mut self, name: &str, section: u16, value: u64, size: u64, st_type: u8, bind: u8) -> u32 {
        self.symbols.push(Symbol { name: name.to_string(), section, value, size, info: (bind << 4) | st_type });
        self.symbols.len() as u32
    }

    /// Adds a `.rel<target>` section of `(offset, type, symbol)` entries.
    pub fn rel(&mut self, target: u16, entries: &[RelEntry]) {
        self.rels.push((u32::from(target), entries.to_vec()));
    }

    pub fn build(mut self) -> Vec<u8> {
        let mut rel_indices = Vec::new();
        for (target, entries) in std::mem::take(&mut self.rels) {
            let name = format!(".rel{}", self.sections[target as usize - 1].name);
            let data: Vec<u8> = entries
                .iter()
                .flat_map(|&(offset, r_type, sym)| {
                    let info = (u64::from(sym) << 32) | u64::from(r_type);
                    offset.to_le_bytes().into_iter().chain(info.to_le_bytes())
                })
                .collect();
            let index = self.section(&name, SHT_REL, 0, &data);
            let rel = &mut self.sections[index as usize - 1];
            rel.info = target;
            rel.entsize = 16;
            rel_indices.push(index);
        }
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for sym in &self.symbols {
            let name = strtab.len() as u32;
            strtab.extend(sym.name.as_bytes());
            strtab.push(0);
            symtab.extend(name.to_le_bytes());
            symtab.push(sym.info);
            symtab.push(0);
            symtab.extend(sym.section.to_le_bytes());
            symtab.extend(sym.value.to_le_bytes());
            symtab.extend(sym.size.to_le_bytes());
        }
        let shstrtab_index = self.section(".shstrtab", SHT_STRTAB, 0, &[]);
        let strtab_index = self.section(".strtab", SHT_STRTAB, 0, &strtab);
        let symtab_index = self.section(".symtab", SHT_SYMTAB, 0, &symtab);
        let symtab_section = &mut self.sections[symtab_index as usize - 1];
        symtab_section.link = u32::from(strtab_index);
        symtab_section.entsize = 24;
        for index in rel_indices {
            self.sections[index as usize - 1].link = u32::from(symtab_index);
        }

        let mut shstrtab = vec![0u8];
        let mut name_offsets = Vec::new();
        for section in &self.sections {
            name_offsets.push(shstrtab.len() as u32);
            shstrtab.extend(section.name.as_bytes());
            shstrtab.push(0);
        }
        self.sections[shstrtab_index as usize - 1].data = shstrtab;

        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for section in &self.sections {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            offsets.push(out.len() as u64);
            out.extend(&section.data);
        }
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len() as u64;
        out.extend([0u8; 64]);
        for (i, section) in self.sections.iter().enumerate() {
            out.extend(name_offsets[i].to_le_bytes());
            out.extend(section.sh_type.to_le_bytes());
            out.extend(section.flags.to_le_bytes());
            out.extend(0u64.to_le_bytes());
            out.extend(offsets[i].to_le_bytes());
            out.extend((section.data.len() as u64).to_le_bytes());
            out.extend(section.link.to_le_bytes());
            out.extend(section.info.to_le_bytes());
            out.extend(8u64.to_le_bytes());
            out.extend(section.entsize.to_le_bytes());
        }

        let header = &mut out[..64];
        header[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        header[16..18].copy_from_slice(&1u16.to_le_bytes());
        header[18..20].copy_from_slice(&self.machine.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        header[40..48].copy_from_slice(&shoff.to_le_bytes());
        header[52..54].copy_from_slice(&64u16.to_le_bytes());
        header[58..60].copy_from_slice(&64u16.to_le_bytes());
        header[60..62].copy_from_slice(&(self.sections.len() as u16 + 1).to_le_bytes());
        header[62..64].copy_from_slice(&shstrtab_index.to_le_bytes());
        out
    }
}

/// One instruction slot from its fields.
pub fn slot(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let off = off as u16 as u64;
    let imm = imm as u32 as u64;
    u64::from(code) | (u64::from(dst | (src << 4)) << 8) | (off << 16) | (imm << 32)
}

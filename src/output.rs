//! Writing results to stdout.

use std::io::{self, Write};

/// Writes `bytes` to stdout. A closed pipe (`bpfx disasm x.o | head`) ends
/// the output quietly rather than failing.
pub fn stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(e).context("writing to stdout")),
        _ => Ok(()),
    }
}

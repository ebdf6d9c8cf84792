//! Where a body waits while it is received: memory up to a threshold, then an unnamed
//! temporary file, so a large upload never sits whole in memory.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// A received body, as handed to the adapter.
#[derive(Debug)]
pub enum Body<'a> {
    /// The body is in memory.
    Memory(&'a [u8]),
    /// The body was spooled to a temporary file, positioned at its start.
    File(&'a mut File),
}

/// A body being received.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
    threshold: usize,
    dir: Option<PathBuf>,
}

impl Spool {
    /// An empty spool that moves to a temporary file (in `dir`, or the system's temporary
    /// directory) once it holds more than `threshold` bytes.
    pub fn new(threshold: usize, dir: Option<PathBuf>) -> Spool {
        Spool {
            memory: Vec::new(),
            file: None,
            len: 0,
            threshold,
            dir,
        }
    }

    /// Reserves memory for a body expected to be `bytes` long, when that stays in memory.
    pub fn expect(&mut self, bytes: u64) {
        if self.file.is_none() && bytes <= self.threshold as u64 {
            self.memory.reserve(
                usize::try_from(bytes)
                    .unwrap_or(0)
                    .saturating_sub(self.memory.len()),
            );
        }
    }

    /// Appends bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        if let Some(file) = &mut self.file {
            return file.write_all(data);
        }
        if self.memory.len() + data.len() <= self.threshold {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let mut file = match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir)?,
            None => tempfile::tempfile()?,
        };
        file.write_all(&self.memory)?;
        file.write_all(data)?;
        self.memory = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// Bytes received.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the body went to disk.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// The body, from its start.
    pub fn body(&mut self) -> io::Result<Body<'_>> {
        match &mut self.file {
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Body::File(file))
            }
            None => Ok(Body::Memory(&self.memory)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn stays_in_memory_up_to_the_threshold_then_spills() {
        let mut spool = Spool::new(10, None);
        spool.write(b"0123456789").unwrap();
        assert!(!spool.on_disk());
        spool.write(b"abc").unwrap();
        assert!(spool.on_disk());
        assert_eq!(spool.len(), 13);
        let Body::File(file) = spool.body().unwrap() else {
            panic!("expected a file")
        };
        let mut all = Vec::new();
        file.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"0123456789abc");
        // Reading twice starts again from the beginning.
        let Body::File(file) = spool.body().unwrap() else {
            panic!("expected a file")
        };
        let mut again = String::new();
        file.read_to_string(&mut again).unwrap();
        assert_eq!(again, "0123456789abc");
    }
}

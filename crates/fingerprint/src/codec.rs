//! Little-endian encoding helpers shared by the index and table files, atomic writes, checksums.
//!
//! Every file is `magic (8 bytes) | version u32 | body | crc32 of everything before`. Readers
//! read the body through [`Reader`], which checks the checksum as it goes (a damaged file is
//! reported as damaged, whatever else is wrong with it), and whose every access is
//! bounds-checked and whose array lengths are checked against the bytes left *before* anything
//! is allocated, so a hostile file can cause an error but never a panic or a huge allocation.

use std::io::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::section::{MappedFile, Section};
use std::sync::Arc;

/// Builds a file body.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 8], version: u32) -> Writer {
        let mut w = Writer { bytes: Vec::new() };
        w.bytes.extend_from_slice(magic);
        w.u32(version);
        w
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    /// Pads with zero bytes up to a multiple of `to` bytes from the start of the file, so
    /// that the array written next can be read in place from a mapping.
    pub(crate) fn align(&mut self, to: usize) {
        while !self.bytes.len().is_multiple_of(to) {
            self.bytes.push(0);
        }
    }
    /// Appends the checksum and returns the finished file.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.bytes);
        self.u32(crc);
        self.bytes
    }
}

/// Reads a file body; every error is a `String` for [`Error::Corrupt`].
///
/// The checksum is computed as the body is read, not in a pass of its own before: bytes are
/// added to it in order, when a large array is checked ([`Reader::checksum_region`]: the
/// array's bytes are hashed block by block while they are in cache for the check) or at the
/// end ([`Reader::checksum_matches`]). On a large index this saves reading 36 MB from memory
/// a second time.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The mapped file `bytes` comes from, if any: arrays are then viewed in place.
    mapped: Option<Arc<MappedFile>>,
    /// The checksum stored at the end of the file.
    stored_crc: u32,
    /// Checksum of `bytes[..hashed]`.
    crc: crc32fast::Hasher,
    hashed: usize,
}

pub(crate) type ReadResult<T> = std::result::Result<T, String>;

/// Parses a whole file of one kind (`what`, e.g. "EDM table"): magic, version, `parse_body`
/// and checksum; every problem is an error naming `path`. A file whose checksum does not match
/// is reported as damaged, whatever else is wrong with it.
pub(crate) fn parse_file<'a, T>(
    bytes: &'a [u8],
    mapped: Option<&Arc<MappedFile>>,
    path: &Path,
    magic: &[u8; 8],
    supported: std::ops::RangeInclusive<u32>,
    what: &'static str,
    parse_body: impl FnOnce(&mut Reader<'a>, u32) -> ReadResult<T>,
) -> Result<T> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        what,
        reason,
    };
    let (mut reader, version) = Reader::open(bytes, magic).map_err(corrupt)?;
    reader.mapped = mapped.filter(|m| std::ptr::eq(m.bytes(), bytes)).cloned();
    let parsed = if supported.contains(&version) {
        parse_body(&mut reader, version).map_err(corrupt)
    } else {
        Err(Error::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            supported: *supported.end(),
        })
    };
    if !reader.checksum_matches(parsed.is_ok()) {
        return Err(corrupt(DAMAGED.into()));
    }
    parsed
}

/// The reason given for a file whose checksum does not match.
const DAMAGED: &str = "checksum mismatch (the file is damaged or truncated)";

impl<'a> Reader<'a> {
    /// Checks magic and length; returns the reader positioned after the version, and the
    /// version. The checksum is checked by [`Reader::checksum_matches`].
    pub(crate) fn open(bytes: &'a [u8], magic: &[u8; 8]) -> ReadResult<(Reader<'a>, u32)> {
        if bytes.len() < 16 {
            return Err(format!("file too short ({} bytes)", bytes.len()));
        }
        if &bytes[..8] != magic {
            return Err("wrong magic bytes (not this kind of file)".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let mut reader = Reader {
            bytes: body,
            pos: 8,
            mapped: None,
            stored_crc: u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]),
            crc: crc32fast::Hasher::new(),
            hashed: 0,
        };
        let version = reader.u32()?;
        Ok((reader, version))
    }

    /// Whether the whole body matches the stored checksum. `read_in_order` says the body was
    /// read to its end without error, so that what [`Reader::checksum_region`] added is the
    /// start of the body in order; otherwise the body is hashed again from its start.
    pub(crate) fn checksum_matches(&mut self, read_in_order: bool) -> bool {
        if !read_in_order {
            return crc32fast::hash(self.bytes) == self.stored_crc;
        }
        self.hash_to(self.bytes.len());
        self.crc.clone().finalize() == self.stored_crc
    }

    /// The byte the next read starts at.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Adds to the checksum the bytes not in it yet before `to`.
    fn hash_to(&mut self, to: usize) {
        if let Some(bytes) = self.bytes.get(self.hashed..to) {
            self.crc.update(bytes);
            self.hashed = to;
        }
    }

    /// Adds to the checksum the bytes from `start` to `end`, whose checksum the caller computed
    /// (`region`) as it checked them: what lies before `start` is hashed first. Does nothing
    /// when the checksum has gone past `start` (the bytes are then hashed at the end, and a
    /// caller's mistake costs time, never a wrong verdict).
    pub(crate) fn checksum_region(&mut self, start: usize, end: usize, region: &crc32fast::Hasher) {
        if self.hashed > start || end > self.bytes.len() {
            return;
        }
        self.hash_to(start);
        self.crc.combine(region);
        self.hashed = end;
    }

    fn take(&mut self, n: usize, what: &str) -> ReadResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated while reading {what} at byte {}", self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    #[cfg(test)]
    pub(crate) fn u8(&mut self) -> ReadResult<u8> {
        Ok(self.take(1, "a byte")?[0])
    }
    pub(crate) fn u32(&mut self) -> ReadResult<u32> {
        let b = self.take(4, "a 32-bit number")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> ReadResult<u64> {
        let b = self.take(8, "a 64-bit number")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn str(&mut self, what: &str) -> ReadResult<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    /// Checks that `count` items of `size` bytes fit in what is left.
    pub(crate) fn check_room(&self, count: u64, size: u64, what: &str) -> ReadResult<usize> {
        let left = (self.bytes.len() - self.pos) as u64;
        match count.checked_mul(size) {
            Some(total) if total <= left => Ok(count as usize),
            _ => Err(format!(
                "{what}: {count} entries announced but only {left} bytes left"
            )),
        }
    }

    pub(crate) fn u64_array(&mut self, count: u64, what: &str) -> ReadResult<Vec<u64>> {
        let n = self.check_room(count, 8, what)?;
        let bytes = self.take(n * 8, what)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    pub(crate) fn u32_array(&mut self, count: u64, what: &str) -> ReadResult<Vec<u32>> {
        let n = self.check_room(count, 4, what)?;
        let bytes = self.take(n * 4, what)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Skips the zero padding [`Writer::align`] wrote.
    pub(crate) fn align(&mut self, to: usize, what: &str) -> ReadResult<()> {
        let padding = (to - self.pos % to) % to;
        if self.take(padding, what)?.iter().any(|&b| b != 0) {
            return Err(format!(
                "{what}: padding before byte {} is not zero",
                self.pos
            ));
        }
        Ok(())
    }

    /// `count` elements of `T` viewed in place when the file is mapped and they are aligned,
    /// else read with `read` (one of the `*_array` methods).
    fn section<T: bytemuck::Pod>(
        &mut self,
        count: u64,
        what: &str,
        read: impl FnOnce(&mut Self) -> ReadResult<Vec<T>>,
    ) -> ReadResult<Section<T>> {
        let size = size_of::<T>();
        let n = self.check_room(count, size as u64, what)?;
        if let Some(section) = self
            .mapped
            .as_ref()
            .and_then(|file| Section::mapped(file, self.pos, n))
        {
            self.pos += n * size;
            return Ok(section);
        }
        read(self).map(Section::from)
    }

    /// [`Reader::u64_array`], viewed in place when the file is mapped and the array aligned.
    pub(crate) fn u64_section(&mut self, count: u64, what: &str) -> ReadResult<Section<u64>> {
        self.section(count, what, |r| r.u64_array(count, what))
    }

    /// [`Reader::u32_array`], viewed in place when the file is mapped and the array aligned.
    pub(crate) fn u32_section(&mut self, count: u64, what: &str) -> ReadResult<Section<u32>> {
        self.section(count, what, |r| r.u32_array(count, what))
    }

    pub(crate) fn u8_array(&mut self, count: u64, what: &str) -> ReadResult<Vec<u8>> {
        let n = self.check_room(count, 1, what)?;
        Ok(self.take(n, what)?.to_vec())
    }

    pub(crate) fn expect_end(&self) -> ReadResult<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes after the data",
                self.bytes.len() - self.pos
            ))
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over the target, so readers see the old file or the new one, never half of one.
/// The file is created readable by its owner only.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Reads a whole file in one go.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Fresh random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| Error::Random(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let mut w = Writer::new(b"TESTFILE", 3);
        w.u32(7);
        w.u64(u64::MAX);
        w.str("名前");
        w.u8(9);
        let bytes = w.finish();
        let (mut r, version) = Reader::open(&bytes, b"TESTFILE").unwrap();
        assert_eq!(version, 3);
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.str("name").unwrap(), "名前");
        assert_eq!(r.u8().unwrap(), 9);
        r.expect_end().unwrap();

        assert!(r.checksum_matches(true));
        let mut damaged = bytes.clone();
        damaged[13] ^= 1;
        let (mut r, _) = Reader::open(&damaged, b"TESTFILE").unwrap();
        assert!(!r.checksum_matches(false));
        r.u32().unwrap();
        assert!(!r.checksum_matches(true));
        assert!(
            Reader::open(&bytes, b"OTHERONE")
                .unwrap_err()
                .contains("magic")
        );
        assert!(
            Reader::open(&bytes[..10], b"TESTFILE")
                .unwrap_err()
                .contains("short")
        );
    }

    /// Regions hashed by the caller and combined give the checksum of the whole body, and
    /// one combined out of order is ignored rather than trusted.
    #[test]
    fn checksum_of_regions_matches_the_whole() {
        let mut w = Writer::new(b"TESTFILE", 1);
        for i in 0..1000u64 {
            w.u64(i * 7919);
        }
        let bytes = w.finish();
        let region = |from: usize, to: usize| {
            let mut h = crc32fast::Hasher::new();
            h.update(&bytes[from..to]);
            h
        };
        let (mut r, _) = Reader::open(&bytes, b"TESTFILE").unwrap();
        r.checksum_region(100, 4000, &region(100, 4000));
        r.checksum_region(4000, 6000, &region(4000, 6000));
        assert!(r.checksum_matches(true));
        // A region claimed for the wrong bytes is caught.
        let (mut r, _) = Reader::open(&bytes, b"TESTFILE").unwrap();
        r.checksum_region(100, 4000, &region(101, 4001));
        assert!(!r.checksum_matches(true));
        // Out of order: the second is ignored and those bytes hashed at the end.
        let (mut r, _) = Reader::open(&bytes, b"TESTFILE").unwrap();
        r.checksum_region(4000, 6000, &region(4000, 6000));
        r.checksum_region(100, 200, &region(0, 1));
        assert!(r.checksum_matches(true));
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let bytes = Writer::new(b"TESTFILE", 1).finish();
        let (mut r, _) = Reader::open(&bytes, b"TESTFILE").unwrap();
        assert!(r.u64_array(u64::MAX, "postings").is_err());
        assert!(r.u64_array(1 << 40, "postings").is_err());
    }

    #[test]
    fn atomic_write_replaces_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}

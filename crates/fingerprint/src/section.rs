//! Arrays of an index that are either owned or read in place from the mapped index file.
//!
//! A large index is mostly arrays of hashes and document ids. Reading them into fresh memory
//! cost most of a scan's start-up (`docs/benchmarks.md`: the kernel zeroing pages for the read
//! buffer and again for the arrays copied out of it, 50 ms for 36 MB); mapping the file and
//! using the arrays where they lie costs neither. Arrays are written at offsets aligned to
//! their element size so that they can be viewed in place (`bytemuck`'s checked casts); a
//! misaligned array (a version 1 file) or a big-endian host gets a copy instead.

use std::fs::File;
use std::ops::Deref;
use std::sync::Arc;

use bytemuck::Pod;

/// A file mapped read-only.
#[derive(Debug)]
pub(crate) struct MappedFile(memmap2::Mmap);

impl MappedFile {
    /// Maps `file` read-only, with its pages faulted in at once (one call instead of a fault
    /// per page while the checksum is computed).
    #[allow(unsafe_code)]
    pub(crate) fn map(file: &File) -> std::io::Result<MappedFile> {
        // SAFETY: the mapping is only read, through `&[u8]`. What `memmap2` cannot rule out is
        // another process changing or truncating the file while it is mapped: the bytes would
        // then change under a `&[u8]` (undefined behaviour in Rust's model) or a read would
        // fault (SIGBUS). Mamori's own commands never do that: every index is written to a
        // temporary file and renamed over the old one (`codec::write_atomic`), which leaves an
        // existing mapping on the old, unchanged inode. Writing the file in place (`cp` over
        // it, `rsync --inplace`) while a gateway has it mapped would; the index lives in the
        // data directory, mode 0600 and owned by the service, and the README says to replace
        // it by rename only. The checksum and the order checks run on the mapping
        // once, at load.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(file)? };
        Ok(MappedFile(map))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An array that is owned, or a view into a mapped file.
#[derive(Debug, Clone)]
pub(crate) enum Section<T: Pod> {
    Owned(Vec<T>),
    Mapped {
        file: Arc<MappedFile>,
        /// Byte offset of the first element.
        start: usize,
        /// Elements.
        len: usize,
    },
}

impl<T: Pod> Default for Section<T> {
    fn default() -> Self {
        Section::Owned(Vec::new())
    }
}

impl<T: Pod> From<Vec<T>> for Section<T> {
    fn from(v: Vec<T>) -> Self {
        Section::Owned(v)
    }
}

impl<T: Pod> Section<T> {
    /// A view of `len` elements at byte `start` of `file`, if they are there, aligned, and
    /// stored in this host's byte order (little endian); `None` otherwise.
    pub(crate) fn mapped(file: &Arc<MappedFile>, start: usize, len: usize) -> Option<Section<T>> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let end = start.checked_add(len.checked_mul(size_of::<T>())?)?;
        let bytes = file.bytes().get(start..end)?;
        bytemuck::try_cast_slice::<u8, T>(bytes).ok()?;
        Some(Section::Mapped {
            file: Arc::clone(file),
            start,
            len,
        })
    }

    /// The elements, owned (a mapped array is copied first).
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            Section::Owned(v) => v,
            Section::Mapped { .. } => self.deref().to_vec(),
        }
    }

    /// Whether the array is a view into a mapped file.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Section::Mapped { .. })
    }
}

impl<T: Pod> Deref for Section<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Section::Owned(v) => v,
            Section::Mapped { file, start, len } => {
                // Checked when the view was made (`Section::mapped`); the empty fallback is
                // never taken.
                let bytes = file
                    .bytes()
                    .get(*start..start + len * size_of::<T>())
                    .unwrap_or_default();
                bytemuck::try_cast_slice(bytes).unwrap_or_default()
            }
        }
    }
}

//! Protecting and opening files on disk: temporary files, renames, permissions, in-place.
//!
//! The rules:
//! * Output files are written to a temporary file in the destination directory (created 0600)
//!   and renamed into place only after everything succeeded and was fsynced. On any error the
//!   temporary file is removed: no partial ciphertext, and above all no partial plaintext.
//! * A protected file gets the permission bits of its plaintext; an opened file is 0600.
//! * Existing destinations are not overwritten unless asked.
//! * `--in-place` removes the plaintext only after the protected file is safely on disk, and
//!   overwrites its blocks once with zeros first. On SSDs, copy-on-write filesystems (btrfs,
//!   ZFS), journalled data and snapshots, earlier copies of the blocks may survive: the
//!   overwrite is best effort, the encryption of new copies is the real protection.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::Header;
use crate::error::{Error, Result};
use crate::keystore::{KeyStore, UserKeys};
use crate::stream::{BUF_SIZE, ProtectRequest};

/// The extension of protected files.
pub const EXTENSION: &str = "mamori";

/// The default output path for protecting `input`: `input.mamori`.
pub fn protected_path(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_os_string();
    name.push(".");
    name.push(EXTENSION);
    PathBuf::from(name)
}

/// Options of [`protect_file`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectFileOptions {
    /// Where to write; `None` for `INPUT.mamori`.
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    pub overwrite: bool,
    /// Remove the plaintext once the protected file is safely written.
    pub in_place: bool,
}

fn temp_in(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".mamori-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path, overwrite: bool) -> Result<()> {
    tmp.as_file().sync_all().map_err(|e| Error::io(dest, e))?;
    let result = if overwrite {
        tmp.persist(dest).map(|_| ())
    } else {
        tmp.persist_noclobber(dest).map(|_| ())
    };
    result.map_err(|e| Error::io(dest, e.error))?;
    // Make the rename itself durable.
    if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn refuse_existing(dest: &Path, overwrite: bool) -> Result<()> {
    if !overwrite && fs::symlink_metadata(dest).is_ok() {
        return Err(Error::io(
            dest,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists (use --force to replace) / 既に存在します",
            ),
        ));
    }
    Ok(())
}

/// Protects one file as `actor`. Returns the path written and the header.
pub fn protect_file(
    store: &KeyStore,
    actor: &UserKeys,
    input: &Path,
    request: &ProtectRequest,
    options: &ProtectFileOptions,
) -> Result<(PathBuf, Header)> {
    let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            input,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file / 通常のファイルではありません",
            ),
        ));
    }
    if options.in_place && meta.nlink() > 1 {
        return Err(Error::InvalidRequest(format!(
            "{}: has {} hard links; other names would keep the plaintext, remove them first / ハードリンクがあります",
            input.display(),
            meta.nlink()
        )));
    }
    let dest = options
        .output
        .clone()
        .unwrap_or_else(|| protected_path(input));
    refuse_existing(&dest, options.overwrite)?;
    let mut request = request.clone();
    if request.original_name.is_empty() {
        request.original_name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    request.plaintext_len = Some(meta.len());
    let source = File::open(input).map_err(|e| Error::io(input, e))?;
    let tmp = temp_in(&dest)?;
    let writer = BufWriter::with_capacity(BUF_SIZE + 1024, tmp.as_file());
    let header = store
        .protect(actor, &request, source, writer, Some(input))
        .map_err(|e| relabel_io(e, input, &dest))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(
            meta.permissions().mode() & 0o7777,
        ))
        .map_err(|e| Error::io(&dest, e))?;
    persist(tmp, &dest, options.overwrite)?;
    if options.in_place {
        shred_and_remove(input)?;
    }
    Ok((dest, header))
}

/// Puts the real path names on stream I/O errors.
fn relabel_io(e: Error, input: &Path, output: &Path) -> Error {
    match e {
        Error::Io { path, source } if path.as_os_str() == "<input>" => Error::io(input, source),
        Error::Io { path, source } if path.as_os_str() == "<output>" => Error::io(output, source),
        Error::Io { path, source } if path.as_os_str() == "<stream>" => Error::io(input, source),
        other => other,
    }
}

/// Overwrites a file's bytes once with zeros, syncs, and removes it (best effort on SSDs and
/// copy-on-write filesystems, see the module documentation).
pub fn shred_and_remove(path: &Path) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    file.seek(io::SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])
            .map_err(|e| Error::io(path, e))?;
        left -= n as u64;
    }
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    fs::remove_file(path).map_err(|e| Error::io(path, e))
}

/// Where [`open_file`] puts the plaintext.
pub enum OpenOutput<'a> {
    /// A file, created 0600 through a temporary file; replaced only with `overwrite`.
    Path {
        /// The destination.
        path: PathBuf,
        /// Replace an existing file.
        overwrite: bool,
    },
    /// A writer such as standard output. The whole file is first decrypted and authenticated
    /// without output (a verification pass); only then is it decrypted again into the writer,
    /// so a tampered or truncated file yields no plaintext at all. Only a file changed between
    /// the two passes can still cause partial output (followed by an error).
    Writer(&'a mut dyn io::Write),
}

impl std::fmt::Debug for OpenOutput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenOutput::Path { path, overwrite } => f
                .debug_struct("Path")
                .field("path", path)
                .field("overwrite", overwrite)
                .finish(),
            OpenOutput::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// Opens one protected file as `actor`. Returns the header and the plaintext length.
pub fn open_file(
    store: &KeyStore,
    actor: &UserKeys,
    input: &Path,
    output: OpenOutput<'_>,
) -> Result<(Header, u64)> {
    let open_input = || File::open(input).map_err(|e| Error::io(input, e));
    match output {
        OpenOutput::Path { path, overwrite } => {
            refuse_existing(&path, overwrite)?;
            let tmp = temp_in(&path)?;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&path, e))?;
            let writer = BufWriter::with_capacity(BUF_SIZE, tmp.as_file());
            let result = store
                .open(actor, open_input()?, writer, Some(input))
                .map_err(|e| relabel_io(e, input, &path))?;
            persist(tmp, &path, overwrite)?;
            Ok(result)
        }
        OpenOutput::Writer(writer) => {
            // Verification pass: authenticate everything, release nothing. Not recorded as an
            // open: the second pass records the outcome.
            let signed_check = {
                let mut file = open_input()?;
                // A bad header releases nothing either way: the real pass reports and records it.
                match crate::read_header(&mut file) {
                    Ok(signed) => {
                        let identities = store.identities_for(actor, &signed.header)?;
                        (!identities.is_empty()).then(|| {
                            crate::decrypt_stream(
                                &signed,
                                file,
                                &identities,
                                actor.name(),
                                io::sink(),
                            )
                        })
                    }
                    Err(_) => None,
                }
            };
            match signed_check {
                Some(Err(e)) => {
                    // Record the refusal the same way a real open would.
                    let mut event = crate::ProtectEvent::new(
                        crate::ProtectOp::Open { granted: false },
                        actor.name(),
                    );
                    event.path = Some(input.to_path_buf());
                    if let Ok(signed) = crate::read_header_file(input) {
                        event.file_id = Some(signed.header.file_id.clone());
                        event.level = Some(signed.header.level.clone());
                        event.groups = signed.header.group_names();
                    }
                    event.reason = Some(e.to_string());
                    store.record(event);
                    Err(relabel_io(e, input, input))
                }
                // Verified, access denied or a bad header: the real pass decides and records.
                _ => store
                    .open(actor, open_input()?, writer, Some(input))
                    .map_err(|e| relabel_io(e, input, Path::new("<stdout>"))),
            }
        }
    }
}

/// Re-keys one protected file in place (through a temporary file and a rename), keeping its
/// permission bits. Returns the new header.
pub fn rekey_file(store: &KeyStore, actor: &UserKeys, path: &Path) -> Result<Header> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let source = File::open(path).map_err(|e| Error::io(path, e))?;
    let tmp = temp_in(path)?;
    let writer = BufWriter::with_capacity(BUF_SIZE + 1024, tmp.as_file());
    let header = store
        .rekey(
            actor,
            io::BufReader::with_capacity(BUF_SIZE, source),
            writer,
            Some(path),
        )
        .map_err(|e| relabel_io(e, path, path))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(
            meta.permissions().mode() & 0o7777,
        ))
        .map_err(|e| Error::io(path, e))?;
    persist(tmp, path, true)?;
    Ok(header)
}

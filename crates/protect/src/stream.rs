//! Streaming encryption and decryption of protected files: readers and writers in, no paths.

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::rc::Rc;

use ed25519_dalek::SigningKey;

use crate::audit::{ProtectEvent, ProtectOp};
use crate::error::{Error, Result};
use crate::format::{self, GroupGrant, Header, PrefixError, SignedHeader, SignerInfo};
use crate::keystore::{KeyStore, UserKeys};

/// Size of the I/O buffers: one age chunk.
pub(crate) const BUF_SIZE: usize = 64 * 1024;

/// What to protect a stream as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectRequest {
    /// The classification level (a policy level id).
    pub level: String,
    /// The groups whose members may open the file. At least one, unless `owner_access`.
    pub groups: Vec<String>,
    /// The plaintext's file name, recorded in the header (directories are stripped).
    pub original_name: String,
    /// Also encrypt to the owner's own key, so the owner can open the file without a group.
    pub owner_access: bool,
    /// The plaintext's length, when known (recorded in the header for information).
    pub plaintext_len: Option<u64>,
}

impl ProtectRequest {
    /// A request for `level` and `groups`, with the owner's access on and no name.
    pub fn new(level: impl Into<String>, groups: Vec<String>) -> ProtectRequest {
        ProtectRequest {
            level: level.into(),
            groups,
            original_name: String::new(),
            owner_access: true,
            plaintext_len: None,
        }
    }
}

/// Shared state of [`CapturingWriter`]: first the age header is captured, then the container
/// prefix plus the captured bytes are written ahead of the first payload bytes.
enum CaptureState {
    Capturing(Vec<u8>),
    Pending(Vec<u8>),
    Passing,
}

/// A writer that holds back what age writes first (its header and nonce) so the signed
/// container prefix, which covers those bytes, can be written in front of them.
///
/// The age crate writes its header straight into the output inside `wrap_output` and gives no
/// access to the output afterwards, hence the shared state.
struct CapturingWriter<W> {
    inner: W,
    state: Rc<RefCell<CaptureState>>,
}

impl<W: Write> CapturingWriter<W> {
    fn flush_pending(&mut self) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if let CaptureState::Pending(bytes) = &*state {
            self.inner.write_all(bytes)?;
            *state = CaptureState::Passing;
        }
        Ok(())
    }
}

impl<W: Write> Write for CapturingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let CaptureState::Capturing(captured) = &mut *self.state.borrow_mut() {
            captured.extend_from_slice(buf);
            return Ok(buf.len());
        }
        self.flush_pending()?;
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if let CaptureState::Capturing(captured) = &mut *self.state.borrow_mut() {
            captured.extend_from_slice(buf);
            return Ok(());
        }
        self.flush_pending()?;
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if matches!(&*self.state.borrow(), CaptureState::Capturing(_)) {
            return Ok(());
        }
        self.flush_pending()?;
        self.inner.flush()
    }
}

/// Which side of a copy failed.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_tracking<R: Read + ?Sized, W: Write + ?Sized>(
    reader: &mut R,
    writer: &mut W,
) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// Encrypts `input` into `output` as a protected file with `header`, signed with `signing`.
///
/// `header.signer.public_key` must be `signing`'s public key. The output is written in one
/// pass: nothing is buffered beyond one 64 KiB chunk. Returns the plaintext length.
pub fn protect_stream<R: Read, W: Write>(
    header: &Header,
    signing: &SigningKey,
    mut input: R,
    output: W,
) -> Result<u64> {
    header.validate()?;
    let mut recipients: Vec<age::x25519::Recipient> = Vec::new();
    for grant in &header.groups {
        recipients.push(format::parse_recipient(&grant.recipient).map_err(Error::InvalidRequest)?);
    }
    if let Some(r) = &header.owner_recipient {
        recipients.push(format::parse_recipient(r).map_err(Error::InvalidRequest)?);
    }
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::Crypto(e.to_string()))?;
    let state = Rc::new(RefCell::new(CaptureState::Capturing(Vec::new())));
    let capture = CapturingWriter {
        inner: output,
        state: Rc::clone(&state),
    };
    let mut stream = encryptor.wrap_output(capture).map_err(Error::stream)?;
    {
        let mut st = state.borrow_mut();
        let CaptureState::Capturing(age_prefix) =
            std::mem::replace(&mut *st, CaptureState::Passing)
        else {
            return Err(Error::Crypto("age header was not captured".into()));
        };
        let mut pending = format::encode_prefix(header, &age_prefix, signing)?;
        pending.extend_from_slice(&age_prefix);
        *st = CaptureState::Pending(pending);
    }
    let total = match copy_tracking(&mut input, &mut stream) {
        Ok(n) => n,
        Err(CopyError::Read(e)) => return Err(Error::io("<input>", e)),
        Err(CopyError::Write(e)) => return Err(Error::io("<output>", e)),
    };
    let mut capture = stream.finish().map_err(|e| Error::io("<output>", e))?;
    capture.flush().map_err(|e| Error::io("<output>", e))?;
    Ok(total)
}

/// Reads and verifies the header of a protected file from a reader, leaving the reader at the
/// start of the encrypted payload. No key is needed.
///
/// Errors: [`crate::FormatError::NotProtected`] for anything that is not a protected file,
/// [`crate::FormatError::BadSignature`] when the header was changed.
pub fn read_header<R: Read>(reader: &mut R) -> Result<SignedHeader> {
    format::read_prefix(reader).map_err(|e| match e {
        PrefixError::Format(f) => Error::Format(f),
        PrefixError::Io(e) => Error::stream(e),
    })
}

/// Reads and verifies the header of a protected file on disk, without decrypting it.
pub fn read_header_file(path: &Path) -> Result<SignedHeader> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(8 * 1024, file);
    format::read_prefix(&mut reader).map_err(|e| match e {
        PrefixError::Format(f) => Error::Format(f),
        PrefixError::Io(e) => Error::io(path, e),
    })
}

/// Maps an error of the age stream reader (authentication or truncation) or of the output.
fn payload_error(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        io::ErrorKind::InvalidData => Error::Tampered,
        _ => Error::stream(e),
    }
}

/// Decrypts the payload following `signed` (which [`read_header`] read from `rest`) with the
/// given identities, writing the plaintext to `output`.
///
/// Plaintext is released one authenticated 64 KiB chunk at a time: when the payload is
/// tampered with or truncated, `output` may already hold the chunks before the damage and an
/// error is returned. Callers that must not leave partial plaintext write to a temporary file
/// and keep it only on success, as [`crate::open_file`] does. Returns the plaintext length.
pub fn decrypt_stream<R: Read, W: Write>(
    signed: &SignedHeader,
    rest: R,
    identities: &[age::x25519::Identity],
    actor: &str,
    mut output: W,
) -> Result<u64> {
    let input = BufReader::with_capacity(
        BUF_SIZE + 16,
        io::Cursor::new(&signed.age_prefix[..]).chain(rest),
    );
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| match e {
        age::DecryptError::Io(e) => payload_error(e),
        _ => Error::Tampered,
    })?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::AccessDenied {
                user: actor.to_string(),
                groups: signed.header.group_names(),
            },
            age::DecryptError::Io(e) => payload_error(e),
            _ => Error::Tampered,
        })?;
    match copy_tracking(&mut reader, &mut output) {
        Ok(n) => {
            output.flush().map_err(|e| Error::io("<output>", e))?;
            Ok(n)
        }
        Err(CopyError::Read(e)) => Err(payload_error(e)),
        Err(CopyError::Write(e)) => Err(Error::io("<output>", e)),
    }
}

fn base_name(name: &str) -> String {
    name.rsplit('/').next().unwrap_or("").to_string()
}

fn new_file_id() -> String {
    use rand::RngCore as _;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    format::hex_encode(&id)
}

impl KeyStore {
    /// Builds the header for protecting content as `actor` with `request`: the groups'
    /// current epochs, the owner's key if asked, a fresh file id.
    pub fn build_header(&self, actor: &UserKeys, request: &ProtectRequest) -> Result<Header> {
        if request.groups.is_empty() && !request.owner_access {
            return Err(Error::InvalidRequest(
                "no group given and owner access off: nobody could open the file / グループが指定されていません".into(),
            ));
        }
        let mut groups = Vec::new();
        for name in &request.groups {
            if groups.iter().any(|g: &GroupGrant| &g.group == name) {
                continue;
            }
            let info = self.group(name)?;
            let epoch = info.current();
            groups.push(GroupGrant {
                group: info.name.clone(),
                epoch: epoch.epoch,
                recipient: epoch.recipient.clone(),
            });
        }
        let header = Header {
            file_id: new_file_id(),
            level: request.level.clone(),
            owner: actor.name().to_string(),
            original_name: base_name(&request.original_name),
            groups,
            owner_recipient: request.owner_access.then(|| actor.recipient()),
            created_unix: crate::now_unix(),
            plaintext_len: request.plaintext_len,
            signer: SignerInfo {
                user: actor.name().to_string(),
                public_key: format::hex_encode(actor.signing_key().verifying_key().as_bytes()),
            },
        };
        header.validate()?;
        Ok(header)
    }

    /// Protects a stream as `actor` and records the event. Returns the header written.
    pub fn protect<R: Read, W: Write>(
        &self,
        actor: &UserKeys,
        request: &ProtectRequest,
        input: R,
        output: W,
        path: Option<&Path>,
    ) -> Result<Header> {
        let header = self.build_header(actor, request)?;
        let result = protect_stream(&header, actor.signing_key(), input, output);
        let mut event = ProtectEvent::new(ProtectOp::Protect, actor.name());
        event.path = path.map(Path::to_path_buf);
        event.file_id = Some(header.file_id.clone());
        event.level = Some(header.level.clone());
        event.groups = header.group_names();
        if let Err(e) = &result {
            event.reason = Some(e.to_string());
        }
        self.record(event);
        result.map(|_| header)
    }

    /// Opens a protected stream as `actor`: verifies the header, finds the actor's keys,
    /// decrypts to `output`, and records the attempt (granted or refused).
    ///
    /// See [`decrypt_stream`] for what reaches `output` when the payload is damaged.
    pub fn open<R: Read, W: Write>(
        &self,
        actor: &UserKeys,
        mut input: R,
        output: W,
        path: Option<&Path>,
    ) -> Result<(Header, u64)> {
        let mut event = ProtectEvent::new(ProtectOp::Open { granted: false }, actor.name());
        event.path = path.map(Path::to_path_buf);
        let result = (|| {
            let signed = read_header(&mut input)?;
            event.file_id = Some(signed.header.file_id.clone());
            event.level = Some(signed.header.level.clone());
            event.groups = signed.header.group_names();
            let identities = self.identities_for(actor, &signed.header)?;
            if identities.is_empty() {
                return Err(Error::AccessDenied {
                    user: actor.name().to_string(),
                    groups: signed.header.group_names(),
                });
            }
            let n = decrypt_stream(&signed, input, &identities, actor.name(), output)?;
            Ok((signed.header, n))
        })();
        match &result {
            Ok(_) => event.op = ProtectOp::Open { granted: true },
            Err(e) => event.reason = Some(e.to_string()),
        }
        self.record(event);
        result
    }

    /// Decrypts a protected stream with `actor`'s keys and re-encrypts it to the current
    /// epochs of its groups, keeping its id, level, owner, name and owner access; `actor`
    /// signs the new header. The plaintext never touches the disk.
    pub fn rekey<R: Read, W: Write>(
        &self,
        actor: &UserKeys,
        mut input: R,
        output: W,
        path: Option<&Path>,
    ) -> Result<Header> {
        let mut event = ProtectEvent::new(ProtectOp::Rekey, actor.name());
        event.path = path.map(Path::to_path_buf);
        let result = (|| {
            let signed = read_header(&mut input)?;
            let old = &signed.header;
            event.file_id = Some(old.file_id.clone());
            event.level = Some(old.level.clone());
            event.groups = old.group_names();
            let identities = self.identities_for(actor, old)?;
            if identities.is_empty() {
                return Err(Error::AccessDenied {
                    user: actor.name().to_string(),
                    groups: old.group_names(),
                });
            }
            let mut groups = Vec::new();
            for grant in &old.groups {
                let info = self.group(&grant.group)?;
                let epoch = info.current();
                groups.push(GroupGrant {
                    group: info.name.clone(),
                    epoch: epoch.epoch,
                    recipient: epoch.recipient.clone(),
                });
            }
            let new = Header {
                groups,
                signer: SignerInfo {
                    user: actor.name().to_string(),
                    public_key: format::hex_encode(actor.signing_key().verifying_key().as_bytes()),
                },
                ..old.clone()
            };
            // Decrypt in this thread into the encryptor: a pipe of one chunk.
            let plain = DecryptingReader::new(&signed, input, &identities, actor.name())?;
            protect_stream(&new, actor.signing_key(), plain, output).map_err(|e| match e {
                Error::Io { source, .. }
                    if source.get_ref().is_some_and(|s| s.is::<PayloadFault>()) =>
                {
                    let fault = source
                        .into_inner()
                        .and_then(|s| s.downcast::<PayloadFault>().ok());
                    fault.map(|f| f.0.into_error()).unwrap_or(Error::Tampered)
                }
                other => other,
            })?;
            Ok(new)
        })();
        if let Err(e) = &result {
            event.reason = Some(e.to_string());
        }
        self.record(event);
        result
    }
}

/// A payload failure carried through an `io::Error` (for re-keying, where the decrypting side
/// is read by the encrypting side).
#[derive(Debug)]
struct PayloadFault(FaultKind);

#[derive(Debug, Clone, Copy)]
enum FaultKind {
    Tampered,
    Truncated,
}

impl FaultKind {
    fn into_error(self) -> Error {
        match self {
            FaultKind::Tampered => Error::Tampered,
            FaultKind::Truncated => Error::Truncated,
        }
    }
}

impl std::fmt::Display for PayloadFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.into_error().fmt(f)
    }
}

impl std::error::Error for PayloadFault {}

/// The plaintext of a protected stream as a reader.
struct DecryptingReader<R: BufRead> {
    inner: age::stream::StreamReader<R>,
}

impl<'a, R: Read + 'a> DecryptingReader<BufReader<io::Chain<io::Cursor<&'a [u8]>, R>>> {
    fn new(
        signed: &'a SignedHeader,
        rest: R,
        identities: &[age::x25519::Identity],
        actor: &str,
    ) -> Result<Self> {
        let input = BufReader::with_capacity(
            BUF_SIZE + 16,
            io::Cursor::new(&signed.age_prefix[..]).chain(rest),
        );
        let decryptor = age::Decryptor::new_buffered(input).map_err(|_| Error::Tampered)?;
        let inner = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Error::AccessDenied {
                    user: actor.to_string(),
                    groups: signed.header.group_names(),
                },
                age::DecryptError::Io(e) => payload_error(e),
                _ => Error::Tampered,
            })?;
        Ok(DecryptingReader { inner })
    }
}

impl<R: BufRead> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::other(PayloadFault(FaultKind::Truncated)),
            io::ErrorKind::InvalidData => io::Error::other(PayloadFault(FaultKind::Tampered)),
            _ => e,
        })
    }
}

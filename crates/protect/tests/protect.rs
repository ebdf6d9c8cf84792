//! Round trips, tampering, truncation, membership and streaming of protected files.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use mamori_protect::secrecy::SecretString;
use mamori_protect::{
    Error, FormatError, KdfCost, KeyStore, MemorySink, OpenOutput, ProtectFileOptions, ProtectOp,
    ProtectRequest, UserKeys, open_file, protect_file, read_header, read_header_file, rekey_file,
};

fn pass(s: &str) -> SecretString {
    SecretString::from(format!("pass-{s}"))
}

struct World {
    dir: tempfile::TempDir,
    store: KeyStore,
    audit: Arc<MemorySink>,
}

impl World {
    /// A store with users alice, bob and carol; group `research` = {alice, bob}.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(MemorySink::default());
        let store = KeyStore::load(dir.path().join("data"))
            .unwrap()
            .with_audit(audit.clone());
        for u in ["alice", "bob", "carol"] {
            store
                .create_user(u, &pass(u), KdfCost::insecure_for_tests())
                .unwrap();
        }
        let alice = store.unlock("alice", &pass("alice")).unwrap();
        store.create_group("research", &alice).unwrap();
        store.add_member("research", "bob", &alice).unwrap();
        World { dir, store, audit }
    }

    fn user(&self, name: &str) -> UserKeys {
        self.store.unlock(name, &pass(name)).unwrap()
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn protect_bytes(&self, who: &str, plain: &[u8], owner_access: bool) -> Vec<u8> {
        let mut req = ProtectRequest::new("confidential", vec!["research".into()]);
        req.owner_access = owner_access;
        req.original_name = "doc.txt".into();
        let mut out = Vec::new();
        self.store
            .protect(&self.user(who), &req, plain, &mut out, None)
            .unwrap();
        out
    }

    fn open_bytes(&self, who: &str, protected: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.store
            .open(&self.user(who), protected, &mut out, None)
            .map(|_| out)
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn round_trips_every_size_class() {
    let w = World::new();
    const CHUNK: usize = 64 * 1024;
    for (i, len) in [0, 1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1_000_003]
        .into_iter()
        .enumerate()
    {
        let plain = pseudo_random(len, i as u64);
        let protected = w.protect_bytes("alice", &plain, true);
        assert_eq!(w.open_bytes("alice", &protected).unwrap(), plain, "{len}");
        assert_eq!(w.open_bytes("bob", &protected).unwrap(), plain, "{len}");
        let signed = read_header(&mut &protected[..]).unwrap();
        assert_eq!(signed.header.owner, "alice");
        assert_eq!(signed.header.original_name, "doc.txt");
        assert!(w.store.signer_is_known(&signed.header));
    }
}

#[test]
fn non_member_is_refused_and_recorded() {
    let w = World::new();
    let protected = w.protect_bytes("alice", b"top secret", true);
    let err = w.open_bytes("carol", &protected).unwrap_err();
    assert!(err.is_access_denied(), "{err}");
    let events = w.audit.events();
    let last = events.last().unwrap();
    assert_eq!(last.op, ProtectOp::Open { granted: false });
    assert_eq!(last.user, "carol");
    assert_eq!(last.groups, vec!["research"]);
    assert!(last.reason.as_deref().unwrap().contains("access denied"));
    // A granted open is recorded as granted.
    w.open_bytes("bob", &protected).unwrap();
    assert_eq!(
        w.audit.events().last().unwrap().op,
        ProtectOp::Open { granted: true }
    );
}

#[test]
fn every_flipped_byte_fails_to_open_without_output() {
    let w = World::new();
    let plain = b"Design review minutes, 2026-11: \xe7\xa4\xbe\xe5\xa4\x96\xe7\xa7\x98".to_vec();
    let protected = w.protect_bytes("alice", &plain, true);
    let bob = w.user("bob");
    for i in 0..protected.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = protected.clone();
            t[i] ^= mask;
            let mut out = Vec::new();
            let res = w.store.open(&bob, &t[..], &mut out, None);
            assert!(
                res.is_err(),
                "flip {mask:#x} at byte {i} of {} opened",
                t.len()
            );
            // One short chunk: authentication fails before any plaintext is released.
            assert!(out.is_empty(), "plaintext released for flip at {i}");
        }
    }
}

#[test]
fn every_truncation_fails_to_open() {
    let w = World::new();
    let protected = w.protect_bytes("alice", &pseudo_random(70_000, 9), true);
    let bob = w.user("bob");
    // Every cut in the header and the first chunk boundary region, and a spread elsewhere.
    let cuts = (0..600)
        .chain((600..protected.len()).step_by(997))
        .chain(protected.len() - 40..protected.len());
    for cut in cuts {
        let res = w.store.open(&bob, &protected[..cut], io::sink(), None);
        assert!(res.is_err(), "cut at {cut} of {} opened", protected.len());
    }
    // Appending bytes is also refused.
    let mut longer = protected.clone();
    longer.extend_from_slice(b"extra");
    assert!(w.store.open(&bob, &longer[..], io::sink(), None).is_err());
}

#[test]
fn tampered_file_leaves_no_plaintext_on_disk_or_stdout() {
    let w = World::new();
    let input = w.path("big.bin");
    let plain = pseudo_random(300_000, 3);
    fs::write(&input, &plain).unwrap();
    let alice = w.user("alice");
    let req = ProtectRequest::new("secret", vec!["research".into()]);
    let (protected, _) = protect_file(
        &w.store,
        &alice,
        &input,
        &req,
        &ProtectFileOptions::default(),
    )
    .unwrap();
    // Damage the last chunk: the first four chunks would authenticate on their own.
    let mut bytes = fs::read(&protected).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x55;
    fs::write(&protected, &bytes).unwrap();

    let out = w.path("out.bin");
    let err = open_file(
        &w.store,
        &alice,
        &protected,
        OpenOutput::Path {
            path: out.clone(),
            overwrite: false,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Tampered), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mamori-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let mut stdout = Vec::new();
    let err = open_file(
        &w.store,
        &alice,
        &protected,
        OpenOutput::Writer(&mut stdout),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Tampered), "{err}");
    assert!(stdout.is_empty(), "{} bytes released", stdout.len());

    // Truncated at a chunk boundary: also no output.
    fs::write(&protected, &bytes[..n - 1000]).unwrap();
    let err = open_file(
        &w.store,
        &alice,
        &protected,
        OpenOutput::Writer(&mut stdout),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Truncated | Error::Tampered), "{err}");
    assert!(stdout.is_empty());
}

#[test]
fn removed_member_cannot_open_new_files_until_rekey_removes_old_access() {
    let w = World::new();
    let before = w.protect_bytes("alice", b"before removal", false);
    w.store.remove_member("research", "bob", "alice").unwrap();
    let after = w.protect_bytes("alice", b"after removal", false);

    // Bob kept the old epoch's key: old files open (he could have copied them anyway)...
    assert_eq!(w.open_bytes("bob", &before).unwrap(), b"before removal");
    // ...new files do not.
    assert!(w.open_bytes("bob", &after).unwrap_err().is_access_denied());
    assert_eq!(w.open_bytes("alice", &after).unwrap(), b"after removal");

    // Re-keying an old file moves it to the new epoch: bob loses it too.
    let path = w.path("old.mamori");
    fs::write(&path, &before).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let old_id = read_header_file(&path).unwrap().header.file_id;
    let header = rekey_file(&w.store, &w.user("alice"), &path).unwrap();
    assert_eq!(header.file_id, old_id);
    assert_eq!(header.groups[0].epoch, 2);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let rekeyed = fs::read(&path).unwrap();
    assert!(
        w.open_bytes("bob", &rekeyed)
            .unwrap_err()
            .is_access_denied()
    );
    assert_eq!(w.open_bytes("alice", &rekeyed).unwrap(), b"before removal");
    // Carol, added after the removal, receives both epochs.
    w.store
        .add_member("research", "carol", &w.user("alice"))
        .unwrap();
    assert_eq!(w.open_bytes("carol", &after).unwrap(), b"after removal");
    assert_eq!(w.open_bytes("carol", &before).unwrap(), b"before removal");
}

#[test]
fn owner_access_is_optional() {
    let w = World::new();
    let carol = w.user("carol");
    let mut req = ProtectRequest::new("secret", Vec::new());
    let mut only_owner = Vec::new();
    w.store
        .protect(&carol, &req, &b"note to self"[..], &mut only_owner, None)
        .unwrap();
    assert_eq!(w.open_bytes("carol", &only_owner).unwrap(), b"note to self");
    assert!(w.open_bytes("alice", &only_owner).is_err());
    req.owner_access = false;
    assert!(matches!(
        w.store.protect(&carol, &req, &b"x"[..], io::sink(), None),
        Err(Error::InvalidRequest(_))
    ));
    // Carol is not in research: with owner access off she cannot open her own file.
    let no_owner = w.protect_bytes("alice", b"members only", false);
    assert!(w.open_bytes("alice", &no_owner).is_ok());
    assert!(w.open_bytes("carol", &no_owner).is_err());
}

#[test]
fn not_protected_and_unknown_group_are_clear_errors() {
    let w = World::new();
    assert!(matches!(
        w.open_bytes("alice", b"plain text file"),
        Err(Error::Format(FormatError::NotProtected))
    ));
    let req = ProtectRequest::new("secret", vec!["nope".into()]);
    assert!(matches!(
        w.store
            .protect(&w.user("alice"), &req, &b"x"[..], io::sink(), None),
        Err(Error::UnknownGroup(_))
    ));
}

#[test]
fn in_place_keeps_permissions_and_removes_plaintext() {
    let w = World::new();
    let input = w.path("report.txt");
    fs::write(&input, b"quarterly numbers").unwrap();
    fs::set_permissions(&input, fs::Permissions::from_mode(0o640)).unwrap();
    let alice = w.user("alice");
    let req = ProtectRequest::new("secret", vec!["research".into()]);
    let opts = ProtectFileOptions {
        in_place: true,
        ..Default::default()
    };
    let (out, header) = protect_file(&w.store, &alice, &input, &req, &opts).unwrap();
    assert_eq!(out, w.path("report.txt.mamori"));
    assert_eq!(header.plaintext_len, Some(17));
    assert!(!input.exists());
    assert_eq!(
        fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // Refuses to overwrite an existing output.
    fs::write(&input, b"again").unwrap();
    assert!(protect_file(&w.store, &alice, &input, &req, &opts).is_err());
    assert!(input.exists(), "plaintext must stay when protecting failed");
    // Hard-linked plaintext is refused for in-place.
    fs::hard_link(&input, w.path("link.txt")).unwrap();
    let opts = ProtectFileOptions {
        in_place: true,
        output: Some(w.path("x.mamori")),
        ..Default::default()
    };
    assert!(matches!(
        protect_file(&w.store, &alice, &input, &req, &opts),
        Err(Error::InvalidRequest(_))
    ));
    // Opened files are private.
    let opened = w.path("report.opened");
    open_file(
        &w.store,
        &w.user("bob"),
        &out,
        OpenOutput::Path {
            path: opened.clone(),
            overwrite: false,
        },
    )
    .unwrap();
    assert_eq!(fs::read(&opened).unwrap(), b"quarterly numbers");
    assert_eq!(
        fs::metadata(&opened).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Peak resident memory of this process in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Protects a sparse file of `len` bytes and opens it again through a pipe, checking every
/// plaintext byte, with bounded memory.
fn sparse_round_trip(len: u64) {
    let w = World::new();
    let input = w.path("sparse.bin");
    let f = fs::File::create(&input).unwrap();
    f.set_len(len).unwrap();
    // One non-zero byte near the end proves the data really flows through.
    let mut f = fs::OpenOptions::new().write(true).open(&input).unwrap();
    use std::io::Seek as _;
    f.seek(io::SeekFrom::Start(len - 1)).unwrap();
    f.write_all(b"!").unwrap();
    drop(f);

    let alice = w.user("alice");
    let bob = w.user("bob");
    let rss_before = peak_rss_kib();
    let (reader, writer) = io::pipe().unwrap();
    let (count, last) = std::thread::scope(|s| {
        let protector = s.spawn(|| {
            let req = ProtectRequest::new("secret", vec!["research".into()]);
            let src = io::BufReader::with_capacity(1 << 16, fs::File::open(&input).unwrap());
            w.store.protect(&alice, &req, src, writer, None).unwrap();
        });
        let mut sink = CheckSink::default();
        let (_, n) = w.store.open(&bob, reader, &mut sink, None).unwrap();
        protector.join().unwrap();
        assert_eq!(n, sink.count);
        (sink.count, sink.last)
    });
    assert_eq!(count, len);
    assert_eq!(last, b'!');
    let grown = peak_rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "peak memory grew by {grown} KiB");
}

/// Counts bytes and checks all but the last are zero.
#[derive(Default)]
struct CheckSink {
    count: u64,
    last: u8,
    nonzero: u64,
}

impl io::Write for CheckSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Slice comparison is a memcmp, fast even in an unoptimised test build.
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        for part in buf.chunks(ZEROS.len()) {
            if part != &ZEROS[..part.len()] {
                self.nonzero += part.iter().filter(|b| **b != 0).count() as u64;
            }
        }
        assert!(self.nonzero <= 1);
        self.count += buf.len() as u64;
        if let Some(b) = buf.last() {
            self.last = *b;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn one_gigabyte_sparse_file_streams() {
    sparse_round_trip(1 << 30);
}

#[test]
#[ignore = "10 GB: run with --run-ignored"]
fn ten_gigabyte_sparse_file_streams() {
    sparse_round_trip(10 << 30);
}

#[test]
fn header_reads_without_keys_and_rejects_garbage_input() {
    let w = World::new();
    let protected = w.protect_bytes("alice", b"abc", true);
    let mut r = &protected[..];
    let signed = read_header(&mut r).unwrap();
    assert_eq!(signed.header.level, "confidential");
    assert_eq!(signed.header.plaintext_len, None);
    let mut empty = io::empty();
    assert!(read_header(&mut empty).is_err());
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(!rest.is_empty());
}

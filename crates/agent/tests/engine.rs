//! The engine against the real kernel, as root: tmpfs mounts stand in for the confidential tree
//! and for a USB stick. Skips (with a message) when not root, fails when MAMORI_E2E_REQUIRED=1.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mamori_agent::mounts::Detector;
use mamori_agent::{Agent, Assessment, Assessor, Config, Recorder};
use mamori_journal::{Event, Operation};
use mamori_policy::Policy;

fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        if std::env::var("MAMORI_E2E_REQUIRED").as_deref() == Ok("1") {
            panic!("{test}: needs root (MAMORI_E2E_REQUIRED=1)");
        }
        eprintln!("SKIP {test}: fanotify permission events need root");
    }
    root
}

/// Content containing "SECRET" is secret, "INTERNAL" internal; the rest public.
struct Keyword(Arc<Policy>);

impl Assessor for Keyword {
    fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.0)
    }
    fn assess(&self, _path: &Path, file: &mut File) -> std::io::Result<Assessment> {
        use std::io::Read as _;
        let mut text = String::new();
        file.take(1 << 20).read_to_string(&mut text)?;
        let id = if text.contains("SECRET") {
            "secret"
        } else if text.contains("INTERNAL") {
            "internal"
        } else {
            "public"
        };
        Ok(Assessment {
            level: self.0.level_id(id).unwrap(),
            why: Some(format!("keyword {id}")),
            findings: Vec::new(),
        })
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl Recorder for Collect {
    fn record(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(path: PathBuf) -> Mounted {
        std::fs::create_dir_all(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs {}", path.display());
        Mounted(path)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    src: Mounted,
    usb: Mounted,
    data: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let src = Mounted::tmpfs(dir.path().join("src"));
    let usb = Mounted::tmpfs(dir.path().join("usb"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(src.0.join("secret.txt"), "this is SECRET material\n").unwrap();
    std::fs::write(src.0.join("public.txt"), "hello world\n").unwrap();
    Setup {
        _dir: dir,
        src,
        usb,
        data,
    }
}

fn start(s: &Setup, tweak: impl FnOnce(&mut Config)) -> (Agent, Arc<Collect>) {
    let detector = Detector {
        removable: vec![s.usb.0.clone()],
        shares: vec![],
        auto: false,
        sysfs_root: PathBuf::from("/sys"),
    };
    let mut cfg = Config::new(vec![s.src.0.clone()], detector, &s.data);
    tweak(&mut cfg);
    let rec = Arc::new(Collect::default());
    let agent = Agent::start(
        cfg,
        Arc::new(Keyword(Arc::new(Policy::default_policy()))),
        rec.clone(),
    )
    .unwrap();
    (agent, rec)
}

/// Runs a shell command in its own process group (so the test process is never tainted).
fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .process_group(0)
        .output()
        .unwrap()
}

#[test]
fn copy_of_secret_to_usb_is_refused_and_public_passes() {
    if !root_or_skip("copy_of_secret_to_usb_is_refused_and_public_passes") {
        return;
    }
    let s = setup();
    let (agent, rec) = start(&s, |_| {});
    let (src, usb) = (s.src.0.display(), s.usb.0.display());
    let out = sh(&format!("cp {src}/secret.txt {usb}/x.txt"));
    assert!(!out.status.success(), "cp of a secret file must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not permitted"), "{err}");
    assert!(!s.usb.0.join("x.txt").exists(), "nothing lands");
    let out = sh(&format!("cp {src}/public.txt {usb}/p.txt"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(s.usb.0.join("p.txt")).unwrap(),
        "hello world\n"
    );
    // cat secret > usb: the shell opens the target first, then cat opens the secret.
    let out = sh(&format!("cat {src}/secret.txt > {usb}/y.txt"));
    assert!(!out.status.success());
    assert_eq!(
        std::fs::metadata(s.usb.0.join("y.txt"))
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );
    std::thread::sleep(Duration::from_millis(500));
    let status = agent.status();
    agent.stop();
    let events = rec.0.lock().unwrap();
    let copy = events
        .iter()
        .find(|e| e.op == Operation::Copy)
        .expect("a copy event");
    assert_eq!(copy.level.as_deref(), Some("secret"));
    assert!(copy.path.as_deref().unwrap().ends_with("secret.txt"));
    assert!(copy.new_path.as_deref().unwrap().ends_with("x.txt"));
    assert_eq!(
        copy.decision.as_ref().unwrap().action,
        mamori_model::Action::Block
    );
    assert!(
        events.iter().any(|e| e.op == Operation::Open
            && e.decision.as_ref().map(|d| d.action) == Some(mamori_model::Action::Block)),
        "the cat open refused as a writer: {events:#?}"
    );
    let denied = status
        .counters
        .iter()
        .find(|(n, _)| n == "denied")
        .unwrap()
        .1;
    assert!(denied >= 2, "{status:?}");
}

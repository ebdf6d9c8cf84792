//! Against the real kernel, as root: kernel uevents arrive for a loop device standing in for a
//! USB stick, and a read-only decision makes the stick read-only before and after mounting.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mamori_device::rules::{RuleSet, Target};
use mamori_device::uevent::UeventSocket;
use mamori_device::{Controller, Outcome};

fn root_or_skip() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("MAMORI_E2E_REQUIRED").is_none(),
        "MAMORI_E2E_REQUIRED is set but the test does not run as root"
    );
    eprintln!("skipped: loop devices and mounts need root");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loop device over a fresh ext4 image; detached (and unmounted) on drop.
struct Stick {
    dev: PathBuf,
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stick {
    fn new() -> Stick {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("stick.img");
        std::fs::write(&image, vec![0u8; 8 << 20]).unwrap();
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let dev = PathBuf::from(run(Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&image)));
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        Stick {
            dev,
            mount,
            _dir: dir,
        }
    }

    fn name(&self) -> String {
        self.dev.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for Stick {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        let _ = Command::new("blockdev")
            .arg("--setrw")
            .arg(&self.dev)
            .status();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

fn write_fails(dir: &Path) -> bool {
    std::fs::write(dir.join("leak.txt"), "社外秘").is_err()
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

#[test]
fn kernel_uevents_arrive_and_a_read_only_stick_cannot_be_written() {
    if !root_or_skip() {
        return;
    }
    let socket = UeventSocket::open().expect("netlink uevent socket");
    let stick = Stick::new();
    let name = stick.name();
    // The kernel announces the loop device's new backing file (a block add or change).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while Instant::now() < deadline {
        if let Some(event) = socket.next(Duration::from_millis(500)).unwrap()
            && event.block_device() == Some(name.as_str())
        {
            seen = Some(event);
            break;
        }
    }
    let event = seen.expect("a uevent for the loop device");
    let rules = RuleSet::parse("", "t", Target::ReadOnly).unwrap();
    let mut controller = Controller::new(rules, Path::new("/sys"), Path::new("/dev"));
    controller.treat_block_as_read_only(&name);
    let out = controller.on_uevent(&event, &mountinfo());
    match &out[..] {
        [
            Outcome::MadeReadOnly {
                error: None, dev, ..
            },
        ] => assert_eq!(dev, &stick.dev),
        other => panic!("unexpected outcome {other:?}"),
    }
    // Mounted after the decision: read-only whatever mount was asked for.
    let _ = Command::new("mount")
        .arg(&stick.dev)
        .arg(&stick.mount)
        .output();
    assert!(
        mountinfo().contains(&stick.mount.to_string_lossy().to_string()),
        "the stick is mounted"
    );
    assert!(
        write_fails(&stick.mount),
        "a write onto the read-only stick succeeded"
    );
}

#[test]
fn a_stick_mounted_before_its_decision_is_remounted_read_only() {
    if !root_or_skip() {
        return;
    }
    let stick = Stick::new();
    run(Command::new("mount").arg(&stick.dev).arg(&stick.mount));
    assert!(!write_fails(&stick.mount), "the stick starts writable");
    let rules = RuleSet::parse("", "t", Target::ReadOnly).unwrap();
    let mut controller = Controller::new(rules, Path::new("/sys"), Path::new("/dev"));
    controller.treat_block_as_read_only(&stick.name());
    let event = mamori_device::uevent::Uevent::parse(
        format!(
            "change@/devices/virtual/block/{0}\0SUBSYSTEM=block\0DEVNAME={0}\0",
            stick.name()
        )
        .as_bytes(),
    )
    .unwrap();
    let out = controller.on_uevent(&event, &mountinfo());
    match &out[..] {
        [
            Outcome::MadeReadOnly {
                error: None,
                remounted,
                ..
            },
        ] => {
            assert_eq!(remounted, &vec![stick.mount.clone()])
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    assert!(
        write_fails(&stick.mount),
        "a write after the remount succeeded"
    );
}

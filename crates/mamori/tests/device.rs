//! `mamori device` driven through the real binary, over a fake sysfs tree (this machine has no
//! USB subsystem) and, as root, a loop device standing in for a USB stick.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn mamori(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .env("LANG", "C")
        .output()
        .expect("run mamori")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn add_device(root: &Path, port: &str, id: (u16, u16), serial: Option<&str>, class: u8) {
    let dir = root.join("bus/usb/devices").join(port);
    std::fs::create_dir_all(dir.join(format!("{port}:1.0"))).unwrap();
    std::fs::write(dir.join("idVendor"), format!("{:04x}\n", id.0)).unwrap();
    std::fs::write(dir.join("idProduct"), format!("{:04x}\n", id.1)).unwrap();
    std::fs::write(dir.join("authorized"), "1\n").unwrap();
    if let Some(s) = serial {
        std::fs::write(dir.join("serial"), format!("{s}\n")).unwrap();
    }
    let intf = dir.join(format!("{port}:1.0"));
    std::fs::write(intf.join("bInterfaceClass"), format!("{class:02x}\n")).unwrap();
    std::fs::write(intf.join("bInterfaceSubClass"), "06\n").unwrap();
    std::fs::write(intf.join("bInterfaceProtocol"), "50\n").unwrap();
}

fn fake_sysfs() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    add_device(root.path(), "1-1", (0x0781, 0x5567), Some("4C530001"), 8);
    add_device(root.path(), "1-2", (0x0951, 0x1666), Some("KING"), 8);
    add_device(root.path(), "1-3", (0x046d, 0xc077), None, 3);
    root
}

#[test]
fn list_generate_and_check_rules() {
    let sysfs = fake_sysfs();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("usb.rules");
    std::fs::write(
        &rules,
        "allow id 0781:5567 serial \"4C530001\"\nblock id 0951:*\n",
    )
    .unwrap();
    let s = sysfs.path().to_str().unwrap();
    let out = mamori(&[
        "device",
        "list",
        "--sysfs",
        s,
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = |port: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!(" {port} ")))
            .unwrap_or_else(|| panic!("no line for {port}: {stdout}"))
            .to_string()
    };
    assert!(line("1-1").starts_with("allow"), "{stdout}");
    assert!(line("1-2").starts_with("block"), "{stdout}");
    assert!(line("1-3").contains("never restricted"), "{stdout}");

    let out = mamori(&["device", "generate-rules", "--sysfs", s]);
    let (generated, _) = text(&out);
    assert!(
        generated.contains("allow id 0781:5567 serial \"4C530001\""),
        "{generated}"
    );
    assert!(
        generated.contains("allow id 0951:1666 serial \"KING\""),
        "{generated}"
    );
    assert!(
        !generated.contains("046d"),
        "input devices need no rule: {generated}"
    );
    std::fs::write(&rules, &generated).unwrap();
    let out = mamori(&["device", "check", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));

    std::fs::write(&rules, "allow id 0781\nblock serial\n").unwrap();
    let out = mamori(&["device", "check", rules.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("usb.rules:1:10: bad id `0781`"), "{stderr}");
    assert!(
        stderr.contains("usb.rules:2:7: `serial` needs a value"),
        "{stderr}"
    );
}

#[test]
fn break_glass_allow_authorises_and_is_recorded() {
    let sysfs = fake_sysfs();
    let data = tempfile::tempdir().unwrap();
    let authorized = sysfs.path().join("bus/usb/devices/1-2/authorized");
    std::fs::write(&authorized, "0").unwrap();
    let out = mamori(&[
        "device",
        "allow",
        "1-2",
        "--reason",
        "課長承認 #123",
        "--sysfs",
        sysfs.path().to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(std::fs::read_to_string(&authorized).unwrap(), "1");
    let out = mamori(&[
        "log",
        "search",
        "--op",
        "device",
        "--format",
        "json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let event: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(event["op"], "device");
    assert_eq!(event["path"], "usb:1-2");
    assert_eq!(event["destination"]["device_serial"], "0951:1666:KING");
    assert_eq!(event["decision"]["rules"][0], "break-glass");
    assert!(
        event["decision"]["reason"]["ja"]
            .as_str()
            .unwrap()
            .contains("課長承認 #123")
    );
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

#[test]
fn watch_makes_a_stick_read_only_as_it_appears_and_records_it() {
    if !rustix::process::geteuid().is_root() {
        assert!(
            std::env::var_os("MAMORI_E2E_REQUIRED").is_none(),
            "MAMORI_E2E_REQUIRED is set but the test does not run as root"
        );
        eprintln!("skipped: loop devices need root");
        return;
    }
    let sysfs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("stick.img");
    std::fs::write(&image, vec![0u8; 8 << 20]).unwrap();
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
    // The next free loop device is the one losetup will take.
    let dev = PathBuf::from(run(Command::new("losetup").arg("-f")));
    let name = dev.file_name().unwrap().to_str().unwrap().to_string();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["device", "watch", "--sysfs"])
        .arg(sysfs.path())
        .args(["--read-only-block", &name, "--duration", "4", "--data-dir"])
        .arg(data.path())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let attached = run(Command::new("losetup").args(["-f", "--show"]).arg(&image));
    let mount = work.path().join("mnt");
    std::fs::create_dir(&mount).unwrap();
    let cleanup = |dev: &str| {
        let _ = Command::new("umount").arg(&mount).status();
        let _ = Command::new("blockdev").args(["--setrw", dev]).status();
        let _ = Command::new("losetup").args(["-d", dev]).status();
    };
    let status = watch.wait().unwrap();
    if attached != dev.to_str().unwrap() {
        cleanup(&attached);
        eprintln!("skipped: another process took {} first", dev.display());
        return;
    }
    assert!(status.success());
    let _ = Command::new("mount").arg(&attached).arg(&mount).output();
    let wrote = std::fs::write(mount.join("leak.txt"), "社外秘").is_ok();
    cleanup(&attached);
    assert!(
        !wrote,
        "the stick was writable after mamori device watch set it read-only"
    );
    let out = mamori(&[
        "log",
        "search",
        "--op",
        "mount",
        "--format",
        "json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(&format!("\"path\":\"/dev/{name}\"")),
        "{stdout}"
    );
    assert!(stdout.contains("read-only for usb:"), "{stdout}");
}

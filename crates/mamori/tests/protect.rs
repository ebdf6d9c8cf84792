//! `mamori keys`, `mamori protect` and `mamori open`, driven through the real binary.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `mamori ARGS` as `user` (passphrase "pw-USER"), with stdin from /dev/null.
    fn run(&self, user: &str, args: &[&str]) -> Output {
        self.run_with_input(user, args, None)
    }

    fn run_with_input(&self, user: &str, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mamori"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("MAMORI_DATA_DIR", self.path("data"))
            .env("MAMORI_USER", user)
            .env("MAMORI_PASSPHRASE", format!("pw-{user}"))
            .env("LANG", "C")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(bytes).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, user: &str, args: &[&str]) -> Output {
        let out = self.run(user, args);
        assert!(
            out.status.success(),
            "mamori {args:?} as {user} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Users alice, bob, carol; group research = {alice, bob}.
    fn with_team() -> Env {
        let env = Env::new();
        for u in ["alice", "bob", "carol"] {
            env.ok(u, &["keys", "create-user", "--scrypt-log-n", "10"]);
        }
        env.ok("alice", &["keys", "create-group", "research"]);
        env.ok("alice", &["keys", "add-member", "research", "bob"]);
        env
    }

    /// The key store's events as the journal recorded them (the protect crate's own event is
    /// in each journal event's `detail`), oldest first.
    fn events(&self) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        for op in ["encrypt", "decrypt", "key_change"] {
            let out = self.run("alice", &["log", "search", "--op", op, "--format", "json"]);
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                let detail: serde_json::Value =
                    serde_json::from_str(event["detail"].as_str().unwrap()).unwrap();
                events.push((event["time_ns"].as_i64().unwrap(), detail));
            }
        }
        events.sort_by_key(|(time, _)| *time);
        events.into_iter().map(|(_, detail)| detail).collect()
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn protect_open_and_membership_lifecycle() {
    let env = Env::with_team();
    let plain = "社外秘: 次期製品の設計方針\n".repeat(1000);
    fs::write(env.path("plan.txt"), &plain).unwrap();
    fs::set_permissions(env.path("plan.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    env.ok(
        "alice",
        &[
            "protect",
            "plan.txt",
            "--group",
            "research",
            "--level",
            "社外秘",
            "--in-place",
        ],
    );
    assert!(!env.path("plan.txt").exists());
    let protected = env.path("plan.txt.mamori");
    assert_eq!(mode(&protected), 0o640);

    // The header is readable without a key or passphrase.
    let info = env.ok("nobody", &["open", "--info", "--json", "plan.txt.mamori"]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["header"]["level"], "社外秘");
    assert_eq!(info["header"]["owner"], "alice");
    assert_eq!(info["header"]["original_name"], "plan.txt");
    assert_eq!(info["header"]["groups"][0]["group"], "research");
    assert_eq!(info["signer_known"], true);

    // A member opens to stdout and to a private file.
    let out = env.ok("bob", &["open", "plan.txt.mamori"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), plain);
    env.ok("bob", &["open", "plan.txt.mamori", "-o", "copy.txt"]);
    assert_eq!(fs::read_to_string(env.path("copy.txt")).unwrap(), plain);
    assert_eq!(mode(&env.path("copy.txt")), 0o600);
    // Existing outputs are not replaced without --force.
    assert_eq!(
        code(&env.run("bob", &["open", "plan.txt.mamori", "-o", "copy.txt"])),
        2
    );
    env.ok(
        "bob",
        &["open", "plan.txt.mamori", "-o", "copy.txt", "--force"],
    );

    // A non-member is refused with exit 1 and nothing on stdout.
    let out = env.run("carol", &["open", "plan.txt.mamori"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("access denied"), "{}", stderr(&out));

    // Removing bob: files protected afterwards are closed to him.
    env.ok("alice", &["keys", "remove-member", "research", "bob"]);
    fs::write(env.path("later.txt"), "after bob left").unwrap();
    env.ok(
        "alice",
        &[
            "protect",
            "later.txt",
            "-g",
            "research",
            "--no-owner-access",
        ],
    );
    assert_eq!(code(&env.run("bob", &["open", "later.txt.mamori"])), 1);
    let out = env.ok("alice", &["open", "later.txt.mamori"]);
    assert_eq!(out.stdout, b"after bob left");
    // The old file still opens for bob until it is re-keyed.
    env.ok("bob", &["open", "plan.txt.mamori"]);
    env.ok("alice", &["keys", "rekey", "research", "plan.txt.mamori"]);
    assert_eq!(code(&env.run("bob", &["open", "plan.txt.mamori"])), 1);
    assert_eq!(mode(&protected), 0o640);

    // Every step is in the audit log.
    let events = env.events();
    let ops: Vec<String> = events
        .iter()
        .map(|e| {
            let op = e["op"].as_str().unwrap().to_string();
            match op.as_str() {
                "open" => format!("open:{}:{}", e["user"].as_str().unwrap(), e["granted"]),
                "key_change" => format!("key:{}", e["change"]["kind"].as_str().unwrap()),
                _ => op,
            }
        })
        .collect();
    for expected in [
        "key:create_user",
        "key:create_group",
        "key:add_member",
        "protect",
        "open:bob:true",
        "open:carol:false",
        "key:remove_member",
        "open:bob:false",
        "rekey",
    ] {
        assert!(
            ops.iter().any(|o| o == expected),
            "{expected} missing in {ops:?}"
        );
    }
    // ...and the journal that holds them verifies.
    env.ok("alice", &["log", "verify"]);
    let refused = env.run(
        "alice",
        &[
            "log", "search", "--kind", "warning", "--op", "decrypt", "--format", "json",
        ],
    );
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("carol"),
        "a refused open is a warning"
    );
}

#[test]
fn tampered_and_truncated_files_fail_without_plaintext() {
    let env = Env::with_team();
    fs::write(env.path("data.bin"), vec![7u8; 200_000]).unwrap();
    env.ok("alice", &["protect", "data.bin", "-g", "research"]);
    let good = fs::read(env.path("data.bin.mamori")).unwrap();

    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n - 10] ^= 1;
    fs::write(env.path("t.mamori"), &tampered).unwrap();
    let out = env.run("bob", &["open", "t.mamori"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "{} bytes of plaintext",
        out.stdout.len()
    );
    assert!(stderr(&out).contains("tampered"), "{}", stderr(&out));
    let out = env.run("bob", &["open", "t.mamori", "-o", "t.out"]);
    assert_eq!(code(&out), 2);
    assert!(!env.path("t.out").exists());

    fs::write(env.path("cut.mamori"), &good[..good.len() - 70_000]).unwrap();
    let out = env.run("bob", &["open", "cut.mamori", "-o", "cut.out"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!env.path("cut.out").exists());

    // A flipped header byte is caught without any key.
    let mut header_flip = good.clone();
    header_flip[40] ^= 1;
    fs::write(env.path("h.mamori"), &header_flip).unwrap();
    assert_eq!(code(&env.run("nobody", &["open", "--info", "h.mamori"])), 2);

    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mamori-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn pipes_and_passphrase_sources() {
    let env = Env::with_team();
    // stdin -> stdout protection, then open from stdin.
    let out = env.run_with_input(
        "alice",
        &["protect", "-", "-g", "research"],
        Some(b"piped secret"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let protected = out.stdout;
    let out = env.run_with_input("bob", &["open", "-"], Some(&protected));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"piped secret");

    // --passphrase-file takes precedence over the environment.
    fs::write(env.path("pw"), "pw-bob\n").unwrap();
    fs::write(env.path("p.mamori"), &protected).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mamori"));
    let out = cmd
        .args([
            "open",
            "p.mamori",
            "--user",
            "bob",
            "--passphrase-file",
            "pw",
        ])
        .current_dir(env.dir.path())
        .env("MAMORI_DATA_DIR", env.path("data"))
        .env("MAMORI_PASSPHRASE", "wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"piped secret");

    // Wrong passphrase: exit 2, a clear message.
    let out = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["open", "p.mamori", "--user", "bob"])
        .current_dir(env.dir.path())
        .env("MAMORI_DATA_DIR", env.path("data"))
        .env("MAMORI_PASSPHRASE", "wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
    let last = env.events().pop().unwrap();
    assert_eq!(last["op"], "open");
    assert_eq!(last["granted"], false);
    assert_eq!(last["user"], "bob");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("wrong passphrase")
    );

    // No passphrase at all, no terminal: exit 2 naming the two ways to give one.
    let out = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["open", "p.mamori", "--user", "bob"])
        .current_dir(env.dir.path())
        .env("MAMORI_DATA_DIR", env.path("data"))
        .env_remove("MAMORI_PASSPHRASE")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("MAMORI_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let env = Env::with_team();
    fs::write(env.path("plain.txt"), "not protected").unwrap();
    let out = env.run("bob", &["open", "plain.txt"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a Mamori protected file"),
        "{}",
        stderr(&out)
    );

    let out = env.run("alice", &["protect", "plain.txt", "-g", "no-such-group"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("unknown group"), "{}", stderr(&out));

    let out = env.run("alice", &["protect", "missing.txt", "-g", "research"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.txt"), "{}", stderr(&out));

    // A key store others can read is refused.
    fs::set_permissions(env.path("data/keys"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.run("alice", &["keys", "list"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("too open"), "{}", stderr(&out));
}

//! `mamori print`: the backend driven the way cupsd drives it (arguments, environment, spool),
//! then end to end with a real cupsd started on loopback with a private configuration, a test
//! printer whose real backend writes into a folder, and `lp` run as a real non-root user.

#[path = "support/desktop.rs"]
mod desktop;
#[path = "../../pdf/tests/support/mod.rs"]
mod pdf_support;

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MAMORI: &str = env!("CARGO_BIN_EXE_mamori");

/// A test policy: the built-in one, plus "internal and above print only on the secure
/// printers" (top secret stays blocked everywhere by the built-in final rule).
fn test_policy() -> String {
    let out = Command::new(MAMORI)
        .args(["policy", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut policy = String::from_utf8(out.stdout).unwrap();
    policy.push_str(
        r#"
# 社外秘・秘は secure で始まるプリンターでのみ印刷できます
# Internal and secret documents print only on the secure printers.
[[rule]]
id = "print-classified-secure-only"
levels = ["internal", "secret"]
channels = ["print"]
action = "block"

[[rule]]
id = "print-secure-printers"
levels = ["internal", "secret"]
printers = ["secure*"]
action = "audit"
exception = true

# reason で始まるプリンターでは社外秘も理由を付ければ印刷できます
# On the "reason" printers, internal documents print with a business reason.
[[rule]]
id = "print-internal-with-reason"
levels = ["internal"]
printers = ["reason*"]
action = "justify"
exception = true
"#,
    );
    policy
}

/// A PDF with a real text layer: a CID font with a `/ToUnicode` map covering every character,
/// one page per string.
fn pdf_with_text(pages: &[&str]) -> Vec<u8> {
    let mut chars: Vec<char> = pages.iter().flat_map(|p| p.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    let code = |c: char| chars.binary_search(&c).unwrap() as u16 + 1;
    let strings: Vec<String> = chars.iter().map(char::to_string).collect();
    let pairs: Vec<(u16, &str)> = chars
        .iter()
        .zip(&strings)
        .map(|(c, s)| (code(*c), s.as_str()))
        .collect();
    let mut doc = pdf_support::Doc::new();
    doc.cjk_font("F1", "Identity-H", Some(&pdf_support::to_unicode(&pairs)));
    for page in pages {
        let hex: String = page.chars().map(|c| format!("{:04X}", code(c))).collect();
        doc.page(format!("BT /F1 12 Tf 72 720 Td <{hex}> Tj ET").as_bytes());
    }
    doc.build()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips (returns true) when something the test needs is missing, unless
/// `MAMORI_E2E_REQUIRED=1`, where it fails.
fn skip(missing: &str) -> bool {
    if std::env::var("MAMORI_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("MAMORI_E2E_REQUIRED=1 but {missing}");
    }
    eprintln!("SKIPPED: {missing}");
    true
}

fn have(program: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(program).exists())
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The real backend of the test printers: copies the job into the folder its URI names
/// (`testout:/dir`), as the file it was given or from standard input.
const TEST_BACKEND: &str = r#"#!/bin/sh
[ $# -eq 0 ] && exit 0
dir="${DEVICE_URI#testout:}"
if [ -n "$6" ]; then cp "$6" "$dir/job-$1"; else cat > "$dir/job-$1"; fi
"#;

// ---------------------------------------------------------------------------------------------
// The backend as cupsd runs it, without cupsd.
// ---------------------------------------------------------------------------------------------

/// A spool, a backend directory with the test backend, an output folder and a data dir.
struct FakeCups {
    dir: tempfile::TempDir,
}

impl FakeCups {
    fn new() -> FakeCups {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["spool", "bin/backend", "out", "data", "root"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let backend = dir.path().join("bin/backend/testout");
        std::fs::write(&backend, TEST_BACKEND).unwrap();
        // Mode 0700: cupsd would run it as root, and so does the wrapper (no user switch).
        chmod(&backend, 0o700);
        std::fs::write(dir.path().join("policy.toml"), test_policy()).unwrap();
        FakeCups { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Runs the backend for job `id` whose spooled document is `document`, owned by `tanaka`.
    fn run(&self, printer: &str, id: u32, document: &[u8], options: &str) -> Output {
        self.run_as(printer, id, document, options, "tanaka", "見積書", &[])
    }

    /// Runs the backend as cupsd would for job `id` of `owner` titled `title`, with `extra`
    /// backend flags.
    #[allow(clippy::too_many_arguments)]
    fn run_as(
        &self,
        printer: &str,
        id: u32,
        document: &[u8],
        options: &str,
        owner: &str,
        title: &str,
        extra: &[&std::ffi::OsStr],
    ) -> Output {
        std::fs::write(self.path("spool").join(format!("d{id:05}-001")), document).unwrap();
        Command::new(MAMORI)
            .args(["print", "backend", "--data-dir"])
            .arg(self.path("data"))
            .arg("--policy")
            .arg(self.path("policy.toml"))
            .args(extra)
            .arg("--")
            .args([&id.to_string(), owner, title, "1", options])
            .arg(self.path("spool").join(format!("d{id:05}-001")))
            .env_clear()
            .env(
                "DEVICE_URI",
                format!("mamori:testout:{}", self.path("out").display()),
            )
            .env("PRINTER", printer)
            .env("CUPS_REQUESTROOT", self.path("spool"))
            .env("CUPS_SERVERBIN", self.path("bin"))
            .env("CUPS_SERVERROOT", self.path("root"))
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    }
}

#[test]
fn backend_discovery_and_bad_invocations() {
    let out = Command::new(MAMORI)
        .args(["print", "backend", "--no-journal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "no arguments: device discovery");
    assert!(out.stdout.is_empty());

    let out = Command::new(MAMORI)
        .args(["print", "backend", "--no-journal", "--", "1", "u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("ERROR: Mamori: usage"));

    let out = Command::new(MAMORI)
        .args([
            "print",
            "backend",
            "--no-journal",
            "--",
            "1",
            "u",
            "t",
            "1",
            "",
        ])
        .env_remove("DEVICE_URI")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("DEVICE_URI"),
        "{}",
        text(&out.stderr)
    );

    // A scheme that would name a file outside the backend directory is refused.
    let out = Command::new(MAMORI)
        .args([
            "print",
            "backend",
            "--no-journal",
            "--",
            "1",
            "u",
            "t",
            "1",
            "",
        ])
        .env("DEVICE_URI", "mamori:../../bin/sh:x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn backend_passes_or_cancels_and_records() {
    let cups = FakeCups::new();
    // A public document goes to the real backend byte for byte.
    let public = pdf_with_text(&["社内報 4月号", "ランチのお知らせ"]);
    let out = cups.run("floor3", 7, &public, "job-originating-host-name=pc7");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(cups.path("out/job-7")).unwrap() == public,
        "job 7 differs"
    );

    // 社外秘 on a printer that is not a secure one: cancelled (5), the reason on an ERROR line,
    // nothing printed.
    let internal = pdf_with_text(&["社外秘", "新製品の価格表"]);
    let out = cups.run("floor3", 8, &internal, "");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line: {stderr}"));
    assert!(error.contains("print-classified-secure-only"), "{error}");
    assert!(
        error.contains("「社外秘」の表示"),
        "what was found, for a person: {error}"
    );
    assert!(
        error.contains("社外秘のファイルは印刷することができません"),
        "{error}"
    );
    assert!(!cups.path("out/job-8").exists());

    // The same document on a secure printer prints.
    let out = cups.run("secure-3f", 9, &internal, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(cups.path("out/job-9")).unwrap() == internal,
        "job 9 differs"
    );

    // Every job is in the journal, with its owner, printer, title, pages and decision.
    let events = search(&cups.path("data"), &[]);
    assert_eq!(events.len(), 3, "{events:?}");
    let public_event = by_reference(&events, "floor3-7");
    assert_eq!(public_event["user"]["name"], "tanaka");
    assert_eq!(public_event["level"], "public");
    assert_eq!(public_event["decision"]["action"], "audit");
    assert_eq!(public_event["transfer"]["client"], "pc7");
    assert_eq!(public_event["transfer"]["subject"], "見積書");
    assert!(
        public_event["detail"].as_str().unwrap().contains("pages=2"),
        "{public_event}"
    );
    let refused = by_reference(&events, "floor3-8");
    assert_eq!(refused["decision"]["action"], "block");
    assert_eq!(
        refused["decision"]["rules"][0],
        "print-classified-secure-only"
    );
    assert_eq!(refused["findings"][0]["detector"], "label.shagaihi");
    assert_eq!(refused["destination"]["printer"], "floor3");
    assert_eq!(
        by_reference(&events, "secure-3f-9")["decision"]["action"],
        "audit"
    );
}

/// A cancelled job pops up on its owner's desktop (their own session bus, a real dbus-daemon
/// with a recording notification service); a job that prints does not.
#[test]
fn a_cancelled_job_pops_up_on_the_owners_desktop() {
    let cups = FakeCups::new();
    let uid = rustix::process::geteuid().as_raw();
    let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .unwrap()
        .expect("the test runs as a local account")
        .name;
    let runtime = cups.path("run-user");
    let Some(desktop) = desktop::Desktop::start(&runtime, uid) else {
        assert!(
            std::env::var_os("MAMORI_E2E_REQUIRED").is_none(),
            "dbus-daemon is missing (apt-get install dbus-daemon)"
        );
        eprintln!("skipped: dbus-daemon is missing");
        return;
    };
    let flag = std::ffi::OsStr::new("--user-runtime-dir");
    let job = |id: u32, printer: &str, document: &[u8]| {
        cups.run_as(
            printer,
            id,
            document,
            "",
            &owner,
            "価格表.pdf",
            &[flag, runtime.as_os_str()],
        )
    };
    let internal = pdf_with_text(&["社外秘", "新製品の価格表"]);
    let out = job(21, "secure-3f", &internal);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = job(22, "floor3", &internal);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let shown = desktop.wait_for(1);
    assert_eq!(shown.len(), 1, "only the cancelled job: {shown:?}");
    let popup = &shown[0];
    assert_eq!(popup.app_name, "Mamori");
    assert_eq!(popup.urgency, Some(2), "a refusal is critical");
    assert_eq!(popup.summary, "Mamori: 操作を止めました / action blocked");
    assert!(
        popup
            .body
            .contains("印刷ジョブ「価格表.pdf」(floor3) を中止しました"),
        "{popup:?}"
    );
    assert!(
        popup
            .body
            .contains("社外秘のファイルは印刷することができません"),
        "{popup:?}"
    );
    assert!(popup.body.contains("on floor3 was cancelled"), "{popup:?}");
}

/// Jobs on several queues run at once: every backend records (the journal's holder may be
/// another job's backend that is just closing) and every job prints. Regression: a backend
/// whose relay lost its holder held its job.
#[test]
fn concurrent_backends_all_record() {
    let cups = FakeCups::new();
    let public = pdf_with_text(&["お知らせ"]);
    let children: Vec<_> = (1..=8u32)
        .map(|id| {
            let spool = cups.path("spool").join(format!("d{id:05}-001"));
            std::fs::write(&spool, &public).unwrap();
            Command::new(MAMORI)
                .args(["print", "backend", "--data-dir"])
                .arg(cups.path("data"))
                .arg("--")
                .args([&id.to_string(), "tanaka", "t", "1", ""])
                .arg(&spool)
                .env_clear()
                .env(
                    "DEVICE_URI",
                    format!("mamori:testout:{}", cups.path("out").display()),
                )
                .env("PRINTER", format!("queue{id}"))
                .env("CUPS_REQUESTROOT", cups.path("spool"))
                .env("CUPS_SERVERBIN", cups.path("bin"))
                .env("CUPS_SERVERROOT", cups.path("root"))
                .env("PATH", "/usr/bin:/bin")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    for id in 1..=8 {
        assert!(cups.path(&format!("out/job-{id}")).exists());
    }
    assert_eq!(search(&cups.path("data"), &[]).len(), 8);
}

fn search(data_dir: &Path, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(MAMORI)
        .args([
            "log",
            "search",
            "--op",
            "print",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_reference<'a>(events: &'a [Value], reference: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["transfer"]["reference"] == reference)
        .unwrap_or_else(|| panic!("no event for {reference}: {events:#?}"))
}

// ---------------------------------------------------------------------------------------------
// End to end with a real cupsd.
// ---------------------------------------------------------------------------------------------

/// The default policy of Debian 12's cupsd.conf (CUPS 2.4.2), verbatim: job creation open to
/// any claimed user name.
const CUPSD_CONF: &str = "\
LogLevel debug
Listen 127.0.0.1:@PORT@
Listen @DIR@/cups.sock
Browsing No
DefaultAuthType Basic
WebInterface No
<Location />
  Order allow,deny
  Allow localhost
</Location>
<Location /admin>
  Order allow,deny
  Allow localhost
</Location>
<Policy default>
  JobPrivateAccess default
  JobPrivateValues default
  SubscriptionPrivateAccess default
  SubscriptionPrivateValues default
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    Order deny,allow
  </Limit>
  <Limit Send-Document Send-URI Hold-Job Release-Job Restart-Job Purge-Jobs Set-Job-Attributes Create-Job-Subscription Renew-Subscription Cancel-Subscription Get-Notifications Reprocess-Job Cancel-Current-Job Suspend-Current-Job Resume-Job Cancel-My-Jobs Close-Job CUPS-Move-Job>
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit CUPS-Get-Document>
    AuthType Default
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit CUPS-Add-Modify-Printer CUPS-Delete-Printer CUPS-Add-Modify-Class CUPS-Delete-Class CUPS-Set-Default CUPS-Get-Devices>
    AuthType Default
    Require user @SYSTEM
    Order deny,allow
  </Limit>
  <Limit Pause-Printer Resume-Printer Enable-Printer Disable-Printer Pause-Printer-After-Current-Job Hold-New-Jobs Release-Held-New-Jobs Deactivate-Printer Activate-Printer Restart-Printer Shutdown-Printer Startup-Printer Promote-Job Schedule-Job-After Cancel-Jobs CUPS-Accept-Jobs CUPS-Reject-Jobs>
    AuthType Default
    Require user @SYSTEM
    Order deny,allow
  </Limit>
  <Limit Cancel-Job CUPS-Authenticate-Job>
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
";

/// A private cupsd: its own ServerRoot, spool, state, logs, port and socket; killed on drop.
struct Cupsd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Cupsd {
    fn start() -> Cupsd {
        let dir = tempfile::tempdir().unwrap();
        // Reachable by the non-root user (the socket, the documents to print).
        chmod(dir.path(), 0o755);
        let d = dir.path();
        for sub in [
            "root",
            "spool/tmp",
            "cache",
            "state",
            "log",
            "bin/backend",
            "out",
            "data",
            "docs",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        chmod(&d.join("docs"), 0o755);
        chmod(&d.join("out"), 0o777);
        for sub in ["filter", "daemon", "notifier", "driver"] {
            std::os::unix::fs::symlink(
                Path::new("/usr/lib/cups").join(sub),
                d.join("bin").join(sub),
            )
            .unwrap();
        }
        let backend = d.join("bin/backend/testout");
        std::fs::write(&backend, TEST_BACKEND).unwrap();
        // World-executable: cupsd runs it as `lp`, and so must the wrapper.
        chmod(&backend, 0o755);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            d.join("root/cupsd.conf"),
            CUPSD_CONF
                .replace("@PORT@", &port.to_string())
                .replace("@DIR@", &d.display().to_string()),
        )
        .unwrap();
        let p = |sub: &str| d.join(sub).display().to_string();
        std::fs::write(
            d.join("root/cups-files.conf"),
            format!(
                "ServerRoot {}\nRequestRoot {}\nTempDir {}\nCacheDir {}\nStateDir {}\nServerBin {}\n\
                 AccessLog {}\nErrorLog {}\nPageLog {}\nUser lp\nGroup lp\nSystemGroup root\nFileDevice No\n",
                p("root"),
                p("spool"),
                p("spool/tmp"),
                p("cache"),
                p("state"),
                p("bin"),
                p("log/access_log"),
                p("log/error_log"),
                p("log/page_log"),
            ),
        )
        .unwrap();
        let child = Command::new("cupsd")
            .arg("-f")
            .arg("-c")
            .arg(d.join("root/cupsd.conf"))
            .arg("-s")
            .arg(d.join("root/cups-files.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log/stderr")).unwrap())
            .spawn()
            .expect("start cupsd");
        let mut cupsd = Cupsd { dir, child };
        cupsd.wait_until_running();
        cupsd
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn socket(&self) -> PathBuf {
        self.path("cups.sock")
    }

    fn wait_until_running(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if text(&self.client("lpstat", &["-r"]).stdout).contains("is running") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cupsd exited ({status}): {}",
                    std::fs::read_to_string(self.path("log/error_log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "cupsd did not start: {}{}",
            std::fs::read_to_string(self.path("log/stderr")).unwrap_or_default(),
            std::fs::read_to_string(self.path("log/error_log")).unwrap_or_default()
        );
    }

    /// A CUPS client program as root, talking to this cupsd.
    fn client(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("CUPS_SERVER", self.socket())
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    }

    /// `mamori print ...` against this cupsd.
    fn mamori(&self, args: &[&str]) -> Output {
        Command::new(MAMORI)
            .arg("print")
            .args(args)
            .arg("--backend-dir")
            .arg(self.path("bin/backend"))
            .arg("--cupsd-conf")
            .arg(self.path("root/cupsd.conf"))
            .arg("--cupsd-pid-file")
            .arg(self.path("state/cupsd.pid"))
            .env("CUPS_SERVER", self.socket())
            .output()
            .unwrap()
    }

    /// `lp` as `user`; the job id on success.
    fn lp(&self, user: &TestUser, args: &[&str]) -> Result<String, String> {
        let out = Command::new("lp")
            .args(args)
            .env_clear()
            .env("CUPS_SERVER", self.socket())
            .env("LC_ALL", "C")
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path("docs"))
            .uid(user.uid)
            .gid(user.gid)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        match stdout.split_whitespace().skip_while(|w| *w != "is").nth(1) {
            Some(id) if out.status.success() => Ok(id.to_owned()),
            _ => Err(format!("{stdout}{}", text(&out.stderr))),
        }
    }

    /// Waits until no job is pending or processing.
    fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let out = self.client("lpstat", &["-o"]);
            if out.status.success() && out.stdout.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = self.client("lpstat", &["-l", "-o"]);
        let log = std::fs::read_to_string(self.path("log/error_log")).unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .filter(|l| l.contains("[Job") || l.starts_with('E'))
            .take(25)
            .collect();
        panic!(
            "jobs still pending: {:?} {}{}\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    /// The `lpstat -W completed -l` block of a job.
    fn completed(&self, job: &str) -> String {
        let out = text(
            &self
                .client("lpstat", &["-W", "completed", "-l", "-o"])
                .stdout,
        );
        let mut block = String::new();
        let mut inside = false;
        for line in out.lines() {
            if !line.starts_with(char::is_whitespace) {
                inside = line.split_whitespace().next() == Some(job);
            }
            if inside {
                block.push_str(line);
                block.push('\n');
            }
        }
        block
    }

    fn write_doc(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path("docs").join(name);
        std::fs::write(&path, bytes).unwrap();
        chmod(&path, 0o644);
        path.display().to_string()
    }
}

impl Drop for Cupsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local non-root account for `lp`, removed at the end when the test created it.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    created: bool,
}

impl TestUser {
    fn get(name: &str) -> TestUser {
        let mut created = false;
        if nix::unistd::User::from_name(name).unwrap().is_none() {
            let out = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/usr/sbin/nologin", name])
                .output()
                .expect("run useradd");
            // 9: created meanwhile by a concurrent run.
            assert!(
                out.status.success() || out.status.code() == Some(9),
                "useradd: {}",
                text(&out.stderr)
            );
            created = out.status.success();
        }
        let user = nix::unistd::User::from_name(name).unwrap().unwrap();
        TestUser {
            name: name.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            created,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.created {
            let _ = Command::new("userdel").arg(&self.name).output();
        }
    }
}

#[test]
fn cups_end_to_end() {
    if !is_root() && skip("the CUPS end-to-end test needs root (a private cupsd, a test user)") {
        return;
    }
    for program in ["cupsd", "lp", "lpadmin", "lpstat", "useradd"] {
        if !have(program)
            && skip(&format!(
                "`{program}` is not installed (see .ci/packages/print.txt)"
            ))
        {
            return;
        }
    }
    let cups = Cupsd::start();
    let user = TestUser::get("mamori-print-e2e");
    let policy = cups.path("policy.toml");
    std::fs::write(&policy, test_policy()).unwrap();
    for (queue, folder) in [
        ("office", "out/office"),
        ("secure-3f", "out/secure"),
        ("reason-2f", "out/reason"),
        ("ps-office", "out/ps"),
    ] {
        std::fs::create_dir_all(cups.path(folder)).unwrap();
        chmod(&cups.path(folder), 0o777);
        let uri = format!("testout:{}", cups.path(folder).display());
        let mut args = vec!["-p", queue, "-v", &uri, "-E"];
        if queue == "ps-office" {
            // A driver queue: cupsd runs filters (pdftops) and the backend gets PostScript on
            // standard input, the usual case for real printers.
            args.extend(["-m", "drv:///sample.drv/generic.ppd"]);
        }
        let out = cups.client("lpadmin", &args);
        assert!(
            out.status.success(),
            "lpadmin {queue}: {}",
            text(&out.stderr)
        );
    }
    let original_conf = std::fs::read_to_string(cups.path("root/cupsd.conf")).unwrap();

    // Without Mamori's hardening, `lp -U` names any owner (the measured problem). The name is
    // an existing account: CUPS 2.4.2 crashed (NULL dereference) on Send-Document for a name
    // with no account, on a freshly started private cupsd.
    let public_txt = cups.write_doc("menu.txt", "今週のランチ: カレー\n".as_bytes());
    let spoofed = cups
        .lp(&user, &["-U", "nobody", "-d", "office", &public_txt])
        .expect("unhardened cupsd accepts -U");
    cups.wait_idle();
    assert!(
        text(
            &cups
                .client("lpstat", &["-W", "completed", "-o", "office"])
                .stdout
        )
        .lines()
        .any(|l| l.starts_with(&spoofed) && l.contains("nobody")),
        "the spoofed owner is the job's owner before hardening"
    );

    // Install, twice: the second run changes nothing.
    let data = cups.path("data");
    let install = |queue: &str| {
        let out = cups.mamori(&[
            "install",
            queue,
            "--data-dir",
            data.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "install: {}", text(&out.stderr));
    };
    install("office");
    install("secure-3f");
    install("reason-2f");
    install("ps-office");
    let hardened = std::fs::read_to_string(cups.path("root/cupsd.conf")).unwrap();
    let script = std::fs::read(cups.path("bin/backend/mamori")).unwrap();
    install("office");
    assert_eq!(
        std::fs::read_to_string(cups.path("root/cupsd.conf")).unwrap(),
        hardened
    );
    assert_eq!(
        std::fs::read(cups.path("bin/backend/mamori")).unwrap(),
        script
    );
    assert!(hardened.contains("Require valid-user"));
    let mode = std::fs::metadata(cups.path("bin/backend/mamori"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "cupsd runs a 0700 backend as root");
    let uris = text(&cups.client("lpstat", &["-v"]).stdout);
    assert!(
        uris.contains("device for office: mamori:testout:"),
        "{uris}"
    );
    assert!(!uris.contains("mamori:mamori:"), "{uris}");
    let status = cups.mamori(&["status"]);
    assert!(
        text(&status.stdout).contains("office\tcontrolled"),
        "{}",
        text(&status.stdout)
    );

    // 1. A PDF labelled 社外秘 on a printer not allowed for it: cancelled, the reason in
    //    `lpstat -W completed -l`, nothing in the folder, the printer still enabled.
    let internal = pdf_with_text(&["社外秘", "新製品の価格表 第3版"]);
    let internal_pdf = cups.write_doc("price.pdf", &internal);
    let job_refused = cups.lp(&user, &["-d", "office", &internal_pdf]).unwrap();
    // 2. The same on the secure printer, and a public PDF on the office printer: unchanged.
    let job_secure = cups.lp(&user, &["-d", "secure-3f", &internal_pdf]).unwrap();
    let public = pdf_with_text(&["社内報 4月号", "新しい食堂のご案内", "以上"]);
    let public_pdf = cups.write_doc("news.pdf", &public);
    let job_public = cups.lp(&user, &["-d", "office", &public_pdf]).unwrap();
    // 3. Plain text with a My Number.
    let my_number = cups.write_doc(
        "list.txt",
        "申請者一覧\n山田太郎 個人番号 123456789018\n".as_bytes(),
    );
    let job_my_number = cups.lp(&user, &["-d", "office", &my_number]).unwrap();
    // 6. Justify: refused without a reason, printed with one (given as a job option).
    let job_unjustified = cups.lp(&user, &["-d", "reason-2f", &internal_pdf]).unwrap();
    let job_justified = cups
        .lp(
            &user,
            &[
                "-d",
                "reason-2f",
                "-o",
                "mamori-justification=監査対応のため",
                &internal_pdf,
            ],
        )
        .unwrap();
    // 7. Through a driver queue: the filters' PostScript reaches the real backend on stdin.
    let job_ps = cups.lp(&user, &["-d", "ps-office", &public_pdf]).unwrap();
    let job_ps_refused = cups.lp(&user, &["-d", "ps-office", &internal_pdf]).unwrap();
    // 4. A spoofed owner is refused now (peer credentials on the local socket).
    let spoof = cups.lp(&user, &["-U", "nobody", "-d", "office", &public_txt]);
    cups.wait_idle();

    let id = |job: &str| job.rsplit('-').next().unwrap().to_owned();
    let refused = cups.completed(&job_refused);
    assert!(
        refused.contains("Mamori:"),
        "{job_refused}: {refused}\n{}",
        text(
            &cups
                .client("lpstat", &["-W", "completed", "-l", "-o"])
                .stdout
        )
    );
    assert!(refused.contains("「社外秘」の表示"), "{refused}");
    assert!(
        refused.contains("print-classified-secure-only"),
        "{refused}"
    );
    assert!(
        !cups
            .path(&format!("out/office/job-{}", id(&job_refused)))
            .exists()
    );
    assert_eq!(
        std::fs::read(cups.path(&format!("out/secure/job-{}", id(&job_secure)))).unwrap(),
        internal
    );
    assert_eq!(
        std::fs::read(cups.path(&format!("out/office/job-{}", id(&job_public)))).unwrap(),
        public,
        "a public PDF arrives unchanged"
    );
    let caught = cups.completed(&job_my_number);
    assert!(caught.contains("検出: マイナンバー"), "{caught}");
    assert!(caught.contains("Found: My Number"), "{caught}");
    assert!(
        !cups
            .path(&format!("out/office/job-{}", id(&job_my_number)))
            .exists()
    );
    // The real backend (mode 0755) ran as cupsd's `User`, as cupsd itself would have run it.
    let printed =
        std::fs::metadata(cups.path(&format!("out/office/job-{}", id(&job_public)))).unwrap();
    let lp_uid = nix::unistd::User::from_name("lp")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&printed), lp_uid);
    let unjustified = cups.completed(&job_unjustified);
    assert!(
        unjustified.contains("mamori-justification"),
        "{unjustified}"
    );
    assert!(
        !cups
            .path(&format!("out/reason/job-{}", id(&job_unjustified)))
            .exists()
    );
    assert_eq!(
        std::fs::read(cups.path(&format!("out/reason/job-{}", id(&job_justified)))).unwrap(),
        internal
    );
    let postscript = std::fs::read(cups.path(&format!("out/ps/job-{}", id(&job_ps)))).unwrap();
    assert!(
        postscript.starts_with(b"%!PS"),
        "the filters' output reached the backend"
    );
    assert!(
        !cups
            .path(&format!("out/ps/job-{}", id(&job_ps_refused)))
            .exists()
    );
    assert!(cups.completed(&job_ps_refused).contains("「社外秘」の表示"));
    let printers = text(&cups.client("lpstat", &["-p", "office"]).stdout);
    assert!(
        printers.contains("enabled"),
        "the printer stays enabled: {printers}"
    );

    // 5. A PDF from texttopdf (CID fonts without ToUnicode): uninspectable, so the policy's
    //    classification of unreadable content decides: refused on the office printer.
    let job_texttopdf = if have("cupsfilter") {
        let out = Command::new("cupsfilter")
            .args(["-m", "application/pdf"])
            .arg(&my_number)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.starts_with(b"%PDF"),
            "cupsfilter failed"
        );
        let path = cups.write_doc("texttopdf.pdf", &out.stdout);
        let job = cups.lp(&user, &["-d", "office", &path]).unwrap();
        cups.wait_idle();
        let block = cups.completed(&job);
        assert!(block.contains("文字情報のない PDF"), "{block}");
        assert!(block.contains("a PDF or image without text"), "{block}");
        assert!(!cups.path(&format!("out/office/job-{}", id(&job))).exists());
        Some(job)
    } else {
        skip("cupsfilter (package cups) is not installed: texttopdf case not run");
        None
    };

    // The journal: every job, its real owner, printer, level, findings, rule and action.
    let events = search(&data, &[]);
    match &spoof {
        Err(message) => assert!(message.contains("nauthorized"), "{message}"),
        Ok(job) => {
            let event = by_reference(&events, job);
            assert_eq!(
                event["user"]["name"],
                user.name.as_str(),
                "recorded as the real user"
            );
        }
    }
    assert!(
        events
            .iter()
            .all(|e| e["user"]["name"] == user.name.as_str()),
        "{events:#?}"
    );
    assert_eq!(
        events.len(),
        8 + usize::from(job_texttopdf.is_some()) + usize::from(spoof.is_ok())
    );
    let e = by_reference(&events, &job_justified);
    assert_eq!(e["decision"]["action"], "justify");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains(r#"justification="監査対応のため""#),
        "{e}"
    );
    assert!(e["detail"].as_str().unwrap().contains("printed"), "{e}");
    assert!(
        by_reference(&events, &job_unjustified)["detail"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );
    assert!(
        by_reference(&events, &job_ps)["detail"]
            .as_str()
            .unwrap()
            .contains("pages=3")
    );
    let e = by_reference(&events, &job_refused);
    assert_eq!(e["decision"]["action"], "block");
    assert_eq!(e["level"], "internal");
    assert_eq!(e["destination"]["printer"], "office");
    assert_eq!(e["transfer"]["subject"], "price.pdf");
    assert!(e["detail"].as_str().unwrap().contains("pages=2"), "{e}");
    assert_eq!(
        by_reference(&events, &job_secure)["decision"]["action"],
        "audit"
    );
    assert_eq!(by_reference(&events, &job_public)["level"], "public");
    let e = by_reference(&events, &job_my_number);
    assert!(
        e["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["detector"] == "jp.my_number" && f["sample"] != "123456789018"),
        "found, and masked: {e}"
    );
    let warnings = search(&data, &["--kind", "warning", "--user", &user.name]);
    // block ×3 (+ texttopdf), justify ×2.
    assert_eq!(warnings.len(), 5 + usize::from(job_texttopdf.is_some()));
    let verify = Command::new(MAMORI)
        .args(["log", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    // Uninstall reverses it exactly.
    for queue in ["office", "secure-3f", "reason-2f", "ps-office"] {
        let out = cups.mamori(&["uninstall", queue, "--data-dir", data.to_str().unwrap()]);
        assert!(out.status.success(), "uninstall: {}", text(&out.stderr));
    }
    assert_eq!(
        std::fs::read_to_string(cups.path("root/cupsd.conf")).unwrap(),
        original_conf
    );
    assert!(!cups.path("bin/backend/mamori").exists());
    let uris = text(&cups.client("lpstat", &["-v"]).stdout);
    assert!(!uris.contains("mamori:"), "{uris}");
    let out = cups.mamori(&["uninstall", "office", "--data-dir", data.to_str().unwrap()]);
    assert!(out.status.success(), "a second uninstall is harmless");
    // Who put the queues under control and took them out is in the journal.
    let out = Command::new(MAMORI)
        .args([
            "log",
            "search",
            "--op",
            "service",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let changes: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let details: Vec<&str> = changes
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(
        details.len(),
        8,
        "four installs, four uninstalls, no-ops not journalled: {details:?}"
    );
    assert!(
        details[0].starts_with("print install: backend "),
        "{details:?}"
    );
    assert!(details[7].contains("restored"), "{details:?}");
    assert!(details[7].contains("removed"), "{details:?}");
}

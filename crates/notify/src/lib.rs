//! Mamori tells the person whose action it stopped, on their desktop.
//!
//! ```text
//! agent / print backend (root)            the user's session
//!   Messenger::tell(uid, Notice) ──spawn as uid:gid──▶ `mamori notify show` ──D-Bus──▶ pop-up
//!   (throttled per user)          JSON on stdin        show(): org.freedesktop.Notifications
//! ```
//!
//! A root process cannot simply call the notification service: a user's session bus
//! (`/run/user/UID/bus`) accepts only connections from that uid (D-Bus `EXTERNAL`
//! authentication compares the peer's credentials). So [`Messenger`] starts a short-lived child
//! *as that user* (their uid and primary gid, no supplementary groups, a cleared environment with
//! only `DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`, `HOME` and `PATH`), hands it the
//! [`Notice`] as JSON on standard input, and waits a bounded time. The child calls [`show`].
//! Nothing runs in the user's session beforehand: no autostart entry to forget, no per-user
//! daemon to keep alive.
//!
//! A person without a graphical session (an SSH login, a batch job) has no session bus: the
//! caller falls back to their terminals (the agent does) and the journal keeps the reason either
//! way. A burst of refusals (`cp -r` of a classified tree to a USB stick) must not bury the desktop
//! under a thousand pop-ups: [`Throttle`] lets one notice per user through per interval and
//! counts the rest into the next one.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mamori_model::Bilingual;
use serde::{Deserialize, Serialize};

/// Largest notice accepted on standard input (a notice is a few hundred bytes).
pub const MAX_NOTICE_BYTES: usize = 64 * 1024;
/// Longest summary shown, in characters; longer ones are cut with `…`.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Longest body shown per language, in characters.
pub const MAX_BODY_CHARS: usize = 2_000;
/// Where systemd-logind makes each user's runtime directory (`/run/user/UID`).
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/user";

/// What can go wrong telling someone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The uid has no account (no passwd entry): nobody to tell.
    #[error("uid {uid} has no account / アカウントがありません")]
    NoAccount {
        /// The uid.
        uid: u32,
    },
    /// The user has no session bus (not logged in graphically, or no systemd user session).
    #[error("uid {uid} has no session bus at {} / セッションバスがありません", bus.display())]
    NoSession {
        /// The uid.
        uid: u32,
        /// Where the bus was looked for.
        bus: PathBuf,
    },
    /// The runtime directory or bus socket is not the user's: refused rather than hand a
    /// notice to whoever planted it.
    #[error("{} is owned by uid {owner}, not {uid} / 所有者が違います", path.display())]
    NotOwned {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The user it should belong to.
        uid: u32,
    },
    /// The child that shows the notice could not be started.
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The child failed; its last words.
    #[error("the notification helper failed ({status}): {stderr}")]
    Helper {
        /// Its exit status.
        status: String,
        /// Its standard error, cut.
        stderr: String,
    },
    /// The child did not finish in time and was killed.
    #[error("the notification helper did not finish within {0:?} and was stopped")]
    TimedOut(Duration),
    /// The notice read from standard input is not a notice.
    #[error("notice: {0}")]
    BadNotice(String),
    /// The desktop's notification service refused or is missing.
    #[error("desktop notification service: {0}")]
    Desktop(String),
}

/// How urgent a notice is (the freedesktop urgency levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Information (an allowed but recorded action).
    Low,
    /// A warning the person should read.
    #[default]
    Normal,
    /// Something was refused: stays until dismissed on most desktops.
    Critical,
}

/// One thing to tell a person, in Japanese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// One line: what happened.
    pub summary: Bilingual,
    /// Why, and what to do.
    pub body: Bilingual,
    /// How urgent.
    #[serde(default)]
    pub urgency: Urgency,
    /// Notices to the same person held back by the [`Throttle`] since the last one shown.
    #[serde(default)]
    pub held_back: u32,
}

impl Notice {
    /// A refusal: "Mamori stopped this", with the reason as the body.
    pub fn refusal(reason: Bilingual) -> Notice {
        Notice {
            summary: Bilingual::new("Mamori: 操作を止めました", "Mamori: action blocked"),
            body: reason,
            urgency: Urgency::Critical,
            held_back: 0,
        }
    }

    /// A warning: the action went ahead, recorded, with a reminder.
    pub fn warning(reason: Bilingual) -> Notice {
        Notice {
            summary: Bilingual::new("Mamori: 記録しました", "Mamori: recorded"),
            body: reason,
            urgency: Urgency::Normal,
            held_back: 0,
        }
    }

    /// The notice as one line of JSON (what the helper reads).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a notice always serialises")
    }

    /// Reads a notice, refusing more than [`MAX_NOTICE_BYTES`].
    pub fn from_json(bytes: &[u8]) -> Result<Notice, NotifyError> {
        if bytes.len() > MAX_NOTICE_BYTES {
            return Err(NotifyError::BadNotice(format!(
                "{} bytes, more than {MAX_NOTICE_BYTES}",
                bytes.len()
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| NotifyError::BadNotice(e.to_string()))
    }

    /// Summary and body as shown: both languages, Japanese first (the users are Japanese
    /// organisations with international staff), control characters removed, lengths capped,
    /// and `<`, `>`, `&` escaped when the desktop reads the body as markup (a file named
    /// `<b>x` must show as written).
    pub fn render(&self, body_markup: bool) -> (String, String) {
        let summary = if self.summary.ja == self.summary.en {
            clean(&self.summary.ja, MAX_SUMMARY_CHARS)
        } else {
            clean(
                &format!("{} / {}", self.summary.ja, strip_prefix_dup(&self.summary)),
                MAX_SUMMARY_CHARS,
            )
        };
        let mut body = clean(&self.body.ja, MAX_BODY_CHARS);
        if self.body.en != self.body.ja {
            body.push_str("\n\n");
            body.push_str(&clean(&self.body.en, MAX_BODY_CHARS));
        }
        if self.held_back > 0 {
            let n = self.held_back;
            body.push_str(&format!(
                "\n\n(ほかに {n} 件の通知を省略しました / {n} more not shown: mamori log search --kind warning)"
            ));
        }
        if body_markup {
            body = escape_markup(&body);
        }
        (summary, body)
    }
}

/// "Mamori: x / Mamori: y" reads badly: the English half drops a prefix both halves share.
fn strip_prefix_dup(summary: &Bilingual) -> &str {
    match (
        summary.ja.strip_prefix("Mamori: "),
        summary.en.strip_prefix("Mamori: "),
    ) {
        (Some(_), Some(en)) => en,
        _ => &summary.en,
    }
}

/// Removes control characters other than line breaks and tabs, and cuts at `max` characters.
fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (count, c) in text
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .enumerate()
    {
        if count == max {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// What [`Throttle::admit`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Show it; `held_back` notices to this person were suppressed since the last one shown.
    Show {
        /// How many were suppressed.
        held_back: u32,
    },
    /// Too soon after the last one: counted, not shown.
    Hold,
}

/// One notice per person per interval; the ones in between are counted and reported with the
/// next one shown. Pure: the caller passes the clock. A person is a uid on a desktop
/// (the default) or, for example, a sender address for mail notices.
#[derive(Debug)]
pub struct Throttle<K = u32> {
    interval: Duration,
    people: HashMap<K, (Instant, u32)>,
}

impl<K: std::hash::Hash + Eq> Throttle<K> {
    /// At most one notice per person per `interval`.
    pub fn new(interval: Duration) -> Throttle<K> {
        Throttle {
            interval,
            people: HashMap::new(),
        }
    }

    /// Whether a notice to `person` at `now` is shown.
    pub fn admit(&mut self, person: K, now: Instant) -> Admission {
        // Forget people not told for a while, so the map stays small; its keys may come from
        // outside (mail senders), so it is also capped outright.
        if self.people.len() > 4_096 {
            let horizon = self.interval.max(Duration::from_secs(600));
            self.people
                .retain(|_, (last, _)| now.duration_since(*last) < horizon);
            if self.people.len() > 16_384 {
                self.people.clear();
            }
        }
        match self.people.get_mut(&person) {
            Some((last, held)) if now.duration_since(*last) < self.interval => {
                *held = held.saturating_add(1);
                Admission::Hold
            }
            Some((last, held)) => {
                let held_back = std::mem::take(held);
                *last = now;
                Admission::Show { held_back }
            }
            None => {
                self.people.insert(person, (now, 0));
                Admission::Show { held_back: 0 }
            }
        }
    }
}

/// A person's graphical session, as far as notifying goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Their uid.
    pub uid: u32,
    /// Their primary gid.
    pub gid: u32,
    /// Their home directory.
    pub home: PathBuf,
    /// Their runtime directory (`/run/user/UID`).
    pub runtime_dir: PathBuf,
    /// The session bus socket in it.
    pub bus: PathBuf,
}

impl Session {
    /// Finds `uid`'s session bus under `runtime_root` (normally [`DEFAULT_RUNTIME_ROOT`]). The
    /// runtime directory and the socket must belong to `uid`.
    pub fn find(uid: u32, runtime_root: &Path) -> Result<Session, NotifyError> {
        let account = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .ok_or(NotifyError::NoAccount { uid })?;
        let runtime_dir = runtime_root.join(uid.to_string());
        let bus = runtime_dir.join("bus");
        let owned = |path: &Path| -> Result<(), NotifyError> {
            let meta = std::fs::metadata(path).map_err(|_| NotifyError::NoSession {
                uid,
                bus: bus.clone(),
            })?;
            if meta.uid() != uid {
                return Err(NotifyError::NotOwned {
                    path: path.to_owned(),
                    owner: meta.uid(),
                    uid,
                });
            }
            Ok(())
        };
        owned(&runtime_dir)?;
        owned(&bus)?;
        Ok(Session {
            uid,
            gid: account.gid.as_raw(),
            home: account.dir,
            runtime_dir,
            bus,
        })
    }
}

/// What became of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// Handed to the person's desktop.
    Shown,
    /// Held back by the throttle (it will be counted in the next one).
    Held,
}

/// Tells people from a root process: finds their session and runs the helper as them.
#[derive(Debug)]
pub struct Messenger {
    program: PathBuf,
    args: Vec<String>,
    runtime_root: PathBuf,
    timeout: Duration,
    throttle: Mutex<Throttle>,
}

impl Messenger {
    /// A messenger that runs `program args...` as the user with the notice on standard input
    /// (Mamori passes its own executable and `notify show`).
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Messenger {
        Messenger {
            program: program.into(),
            args: args.iter().map(|&a| a.to_owned()).collect(),
            runtime_root: PathBuf::from(DEFAULT_RUNTIME_ROOT),
            timeout: Duration::from_secs(5),
            throttle: Mutex::new(Throttle::new(Duration::from_secs(5))),
        }
    }

    /// Looks for session buses under `root` instead of `/run/user` (tests, unusual systems).
    pub fn with_runtime_root(mut self, root: impl Into<PathBuf>) -> Messenger {
        self.runtime_root = root.into();
        self
    }

    /// At most one notice per person per `interval` (default 5 s; zero: no throttle).
    pub fn with_interval(mut self, interval: Duration) -> Messenger {
        self.throttle = Mutex::new(Throttle::new(interval));
        self
    }

    /// How long the helper may take (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Messenger {
        self.timeout = timeout;
        self
    }

    /// Tells `uid`. Blocks up to the timeout: call it from a thread of its own, never from a
    /// thread something else waits on.
    pub fn tell(&self, uid: u32, notice: &Notice) -> Result<Told, NotifyError> {
        let session = Session::find(uid, &self.runtime_root)?;
        let held_back = match self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(uid, Instant::now())
        {
            Admission::Hold => return Ok(Told::Held),
            Admission::Show { held_back } => held_back,
        };
        let notice = Notice {
            held_back: notice.held_back + held_back,
            ..notice.clone()
        };
        self.run_helper(&session, &notice)?;
        Ok(Told::Shown)
    }

    fn run_helper(&self, session: &Session, notice: &Notice) -> Result<(), NotifyError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", session.bus.display()),
            )
            .env("XDG_RUNTIME_DIR", &session.runtime_dir)
            .env("HOME", &session.home)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .current_dir("/");
        // std drops the supplementary groups (setgroups(0)) before setuid when it runs as root.
        if nix::unistd::geteuid().as_raw() != session.uid {
            command.uid(session.uid).gid(session.gid);
        }
        run_with_input(&mut command, notice.to_json().as_bytes(), self.timeout)
    }
}

/// Runs `command` with `input` on its standard input and waits at most `timeout` for it to
/// exit (killed and reaped past that). A failure carries the exit status and the first 4 KiB
/// of its standard error. Used for the desktop helper and for the mail gateway's `sendmail`:
/// both hand a notice to another program that must not hold their caller up.
pub fn run_with_input(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<(), NotifyError> {
    let program = PathBuf::from(command.get_program());
    let spawn_error = |source| NotifyError::Spawn {
        program: program.clone(),
        source,
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A child that exits early closes the pipe: its status says why.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(spawn_error)? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::TimedOut(timeout));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = pipe.take(4096).read_to_string(&mut stderr);
    }
    Err(NotifyError::Helper {
        status: status.to_string(),
        stderr: stderr.trim().to_owned(),
    })
}

/// Shows `notice` on the desktop of the session this process runs in (the helper's half), and
/// returns the notification's id. Uses the freedesktop notification service on the session bus
/// (`DBUS_SESSION_BUS_ADDRESS`), through `notify-rust`.
pub fn show(notice: &Notice) -> Result<u32, NotifyError> {
    let desktop = |e: notify_rust::error::Error| NotifyError::Desktop(e.to_string());
    let markup = notify_rust::get_capabilities()
        .map_err(desktop)?
        .iter()
        .any(|c| c == "body-markup");
    let (summary, body) = notice.render(markup);
    let handle = notify_rust::Notification::new()
        .appname("Mamori")
        .summary(&summary)
        .body(&body)
        .icon(match notice.urgency {
            Urgency::Critical => "dialog-error",
            Urgency::Normal => "dialog-warning",
            Urgency::Low => "dialog-information",
        })
        .urgency(match notice.urgency {
            Urgency::Low => notify_rust::Urgency::Low,
            Urgency::Normal => notify_rust::Urgency::Normal,
            Urgency::Critical => notify_rust::Urgency::Critical,
        })
        .show()
        .map_err(desktop)?;
    Ok(handle.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason() -> Bilingual {
        Bilingual::new(
            "社外秘の情報をUSBメモリへ書き出すことは禁止されています: /media/usb/設計書.docx",
            "Copying confidential content to removable media is forbidden: /media/usb/設計書.docx",
        )
    }

    #[test]
    fn a_refusal_shows_both_languages_japanese_first() {
        let (summary, body) = Notice::refusal(reason()).render(false);
        assert_eq!(summary, "Mamori: 操作を止めました / action blocked");
        let ja = body.find("禁止されています").unwrap();
        let en = body.find("forbidden").unwrap();
        assert!(ja < en, "{body}");
        assert!(!body.contains("more not shown"));
    }

    #[test]
    fn held_back_notices_are_counted_in_the_next_one() {
        let mut notice = Notice::refusal(reason());
        notice.held_back = 41;
        let (_, body) = notice.render(false);
        assert!(body.contains("ほかに 41 件"), "{body}");
        assert!(body.contains("41 more not shown"), "{body}");
    }

    #[test]
    fn markup_is_escaped_only_for_desktops_that_read_markup() {
        let notice = Notice::refusal(Bilingual::new("<b>x</b> & y", "<b>x</b> & y"));
        assert_eq!(notice.render(false).1, "<b>x</b> & y");
        assert_eq!(notice.render(true).1, "&lt;b&gt;x&lt;/b&gt; &amp; y");
    }

    #[test]
    fn control_characters_are_removed_and_long_text_cut() {
        let long = format!("a\u{1b}[31mb\u{7}\n{}", "字".repeat(5_000));
        let notice = Notice::refusal(Bilingual::new(long.clone(), long));
        let (_, body) = notice.render(false);
        assert!(body.starts_with("a[31mb\n字"), "{body:?}");
        assert!(!body.contains('\u{1b}') && !body.contains('\u{7}'));
        let first = body.split("\n\n").next().unwrap();
        assert_eq!(
            first.chars().count(),
            MAX_BODY_CHARS + 1,
            "cut with an ellipsis"
        );
        assert!(first.ends_with('…'));
    }

    #[test]
    fn notices_round_trip_through_json_and_oversized_ones_are_refused() {
        let notice = Notice::warning(reason());
        assert_eq!(
            Notice::from_json(notice.to_json().as_bytes()).unwrap(),
            notice
        );
        let huge = vec![b' '; MAX_NOTICE_BYTES + 1];
        assert!(matches!(
            Notice::from_json(&huge),
            Err(NotifyError::BadNotice(_))
        ));
        assert!(matches!(
            Notice::from_json(b"{\"summary\":1}"),
            Err(NotifyError::BadNotice(_))
        ));
    }

    #[test]
    fn the_throttle_lets_one_through_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(throttle.admit(1000, t0), Admission::Show { held_back: 0 });
        assert_eq!(
            throttle.admit(1000, t0 + Duration::from_secs(1)),
            Admission::Hold
        );
        assert_eq!(
            throttle.admit(1000, t0 + Duration::from_secs(2)),
            Admission::Hold
        );
        // Another person is not held back by the first one's burst.
        assert_eq!(
            throttle.admit(1001, t0 + Duration::from_secs(2)),
            Admission::Show { held_back: 0 }
        );
        assert_eq!(
            throttle.admit(1000, t0 + Duration::from_secs(6)),
            Admission::Show { held_back: 2 }
        );
        assert_eq!(
            throttle.admit(1000, t0 + Duration::from_secs(12)),
            Admission::Show { held_back: 0 }
        );
    }

    #[test]
    fn a_zero_interval_never_holds() {
        let mut throttle = Throttle::new(Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.admit(7, t0), Admission::Show { held_back: 0 });
        }
    }

    #[test]
    fn no_session_without_a_bus_and_none_in_a_directory_someone_else_owns() {
        let root = tempfile::tempdir().unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        match Session::find(uid, root.path()) {
            Err(NotifyError::NoSession { uid: u, bus }) => {
                assert_eq!(u, uid);
                assert_eq!(bus, root.path().join(uid.to_string()).join("bus"));
            }
            other => panic!("{other:?}"),
        }
        let dir = root.path().join(uid.to_string());
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("bus"), b"").unwrap();
        let session = Session::find(uid, root.path()).unwrap();
        assert_eq!(session.bus, dir.join("bus"));
        if uid == 0 {
            // As root: a directory owned by someone else is refused.
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(matches!(
                Session::find(0, root.path()),
                Err(NotifyError::NotOwned { owner: 65534, .. })
            ));
        }
    }

    #[test]
    fn the_helper_gets_the_notice_on_stdin_and_its_failure_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let dir = root.path().join(uid.to_string());
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("bus"), b"").unwrap();
        let out = root.path().join("received.json");
        let script = format!(
            "cat > '{}'; printf '%s' \"$DBUS_SESSION_BUS_ADDRESS\" > '{}.bus'",
            out.display(),
            out.display()
        );
        let messenger = Messenger::new("/bin/sh", &["-c", &script])
            .with_runtime_root(root.path())
            .with_interval(Duration::from_secs(60));
        let notice = Notice::refusal(reason());
        assert_eq!(messenger.tell(uid, &notice).unwrap(), Told::Shown);
        let received = Notice::from_json(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(received, notice);
        assert_eq!(
            std::fs::read_to_string(format!("{}.bus", out.display())).unwrap(),
            format!("unix:path={}", dir.join("bus").display())
        );
        // The second within the interval is held back.
        assert_eq!(messenger.tell(uid, &notice).unwrap(), Told::Held);

        let failing = Messenger::new("/bin/sh", &["-c", "echo 'no service' >&2; exit 3"])
            .with_runtime_root(root.path());
        match failing.tell(uid, &notice) {
            Err(NotifyError::Helper { stderr, .. }) => assert_eq!(stderr, "no service"),
            other => panic!("{other:?}"),
        }
        let hanging = Messenger::new("/bin/sh", &["-c", "exec sleep 30"])
            .with_runtime_root(root.path())
            .with_timeout(Duration::from_millis(200));
        assert!(matches!(
            hanging.tell(uid, &notice),
            Err(NotifyError::TimedOut(_))
        ));
    }

    #[test]
    fn as_root_the_helper_runs_as_the_user_without_roots_groups() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: needs root to switch to another user");
            return;
        }
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let uid = nobody.uid.as_raw();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(uid.to_string());
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("bus"), b"").unwrap();
        for path in [&dir, &dir.join("bus")] {
            std::os::unix::fs::chown(path, Some(uid), None).unwrap();
        }
        // The helper reports who it runs as on standard error, then fails so we read it.
        let messenger = Messenger::new("/bin/sh", &["-c", "echo $(id -u) $(id -G) >&2; exit 1"])
            .with_runtime_root(root.path());
        match messenger.tell(uid, &Notice::refusal(reason())) {
            Err(NotifyError::Helper { stderr, .. }) => {
                let gid = nobody.gid.as_raw();
                assert_eq!(
                    stderr,
                    format!("{uid} {gid}"),
                    "uid, then only the primary gid"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn rendering_never_panics_and_respects_the_caps(
            ja in ".{0,3000}", en in ".{0,3000}", held in 0u32..5, markup: bool,
        ) {
            let notice = Notice { held_back: held, ..Notice::refusal(Bilingual::new(ja, en)) };
            let (summary, body) = notice.render(markup);
            proptest::prop_assert!(summary.chars().count() <= MAX_SUMMARY_CHARS + 1);
            proptest::prop_assert!(!body.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            if markup {
                proptest::prop_assert!(!body.contains('<') && !body.contains('>'));
            }
        }
    }
}

//! `mamori notify`: a notice reaches the user's desktop through their own session bus (a real
//! `dbus-daemon` and a fake notification service, `support/desktop.rs`).

#[path = "support/desktop.rs"]
mod desktop;

use std::process::Command;

fn mamori() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
}

fn desktop_or_skip(test: &str, root: &std::path::Path, uid: u32) -> Option<desktop::Desktop> {
    match desktop::Desktop::start(root, uid) {
        Some(d) => Some(d),
        None if std::env::var_os("MAMORI_E2E_REQUIRED").is_some() => {
            panic!("{test}: dbus-daemon is missing (apt-get install dbus-daemon)")
        }
        None => {
            eprintln!("{test}: skipped: dbus-daemon is missing");
            None
        }
    }
}

#[test]
fn a_notice_reaches_the_users_desktop_in_both_languages() {
    let root = tempfile::tempdir().unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let Some(desktop) = desktop_or_skip("notify send", root.path(), uid) else {
        return;
    };
    let out = mamori()
        .args(["notify", "send", "--uid", &uid.to_string()])
        .args(["--message", "テスト通知です <b>太字ではない</b>"])
        .args(["--message-en", "This is a test notice"])
        .arg("--runtime-root")
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shown = desktop.wait_for(1);
    assert_eq!(shown.len(), 1, "{shown:?}");
    let notice = &shown[0];
    assert_eq!(notice.app_name, "Mamori");
    assert_eq!(notice.summary, "Mamori: 記録しました / recorded");
    assert!(notice.body.starts_with("テスト通知です"), "{notice:?}");
    assert!(notice.body.contains("This is a test notice"), "{notice:?}");
    // The fake desktop reads markup: the message's own tags are shown, not obeyed.
    assert!(notice.body.contains("&lt;b&gt;"), "{notice:?}");
    assert_eq!(notice.urgency, Some(1), "a warning is of normal urgency");
}

#[test]
fn without_a_session_bus_the_sender_is_told_why() {
    let root = tempfile::tempdir().unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let out = mamori()
        .args([
            "notify",
            "send",
            "--uid",
            &uid.to_string(),
            "--message",
            "x",
        ])
        .arg("--runtime-root")
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no session bus"), "{err}");
    assert!(err.contains(&root.path().display().to_string()), "{err}");
}

#[test]
fn the_helper_refuses_a_notice_that_is_not_one() {
    let out = mamori()
        .args(["notify", "show"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(b"{\"summary\": 1}")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("notice"),
        "{out:?}"
    );
}

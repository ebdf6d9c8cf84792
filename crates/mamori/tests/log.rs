//! `mamori log` driven through the real binary: append, search, trail, tail -f, export, verify,
//! and the crash test (a writer killed with SIGKILL again and again).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mamori_journal::{Destination, Event, FileIdentity, Operation, User};
use mamori_model::{Action, Bilingual, Category, Channel, Confidence, Decision, Finding};

fn mamori(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .arg("log")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("LANG", "C")
        .output()
        .expect("run mamori")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn append(data_dir: &Path, events: &[Event]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["log", "append", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for e in events {
            writeln!(stdin, "{}", serde_json::to_string(e).unwrap()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(String::from).collect()
}

fn user(name: &str, uid: u32) -> User {
    User {
        uid,
        name: Some(name.into()),
    }
}

fn block() -> Decision {
    Decision {
        action: Action::Block,
        level: "極秘".into(),
        rules: vec!["usb-block".into()],
        reason: Bilingual::new("USB への持ち出しは禁止です", "copying to USB is forbidden"),
    }
}

/// A small story: a secret plan is created, scanned, copied, renamed, and its copy blocked on
/// its way to a USB stick.
fn story() -> Vec<Event> {
    let hash = "5e".repeat(32);
    let identity = FileIdentity {
        sha256: Some(hash),
        size: Some(1234),
        ..FileIdentity::default()
    };
    vec![
        Event::new(Operation::Create)
            .with_time_ns(1_700_000_000_000_000_000)
            .with_user(user("sato", 1000))
            .with_path("/srv/project/plan.docx")
            .with_file(identity.clone()),
        Event::new(Operation::Scan)
            .with_time_ns(1_700_000_001_000_000_000)
            .with_path("/srv/project/plan.docx")
            .with_file(identity.clone())
            .with_level("極秘")
            .with_findings(vec![
                Finding::new("label.gokuhi", Category::Label, Confidence::High).with_sample("極秘"),
                Finding::new("jp.my_number", Category::PersonalId, Confidence::High)
                    .with_sample("123456789018"),
            ]),
        Event::new(Operation::Copy)
            .with_time_ns(1_700_000_002_000_000_000)
            .with_user(user("suzuki", 1001))
            .with_path("/srv/project/plan.docx")
            .with_new_path("/home/suzuki/plan-copy.docx")
            .with_file(identity.clone()),
        Event::new(Operation::Rename)
            .with_time_ns(1_700_000_003_000_000_000)
            .with_user(user("suzuki", 1001))
            .with_path("/home/suzuki/plan-copy.docx")
            .with_new_path("/home/suzuki/memo.docx"),
        Event::new(Operation::Write)
            .with_time_ns(1_700_000_004_000_000_000)
            .with_user(user("suzuki", 1001))
            .with_path("/media/usb0/memo.docx")
            .with_file(identity)
            .with_channel(Channel::RemovableMedia)
            .with_destination(Destination {
                device_serial: Some("SN-4711".into()),
                ..Destination::default()
            })
            .with_decision(block()),
        Event::new(Operation::Open)
            .with_time_ns(1_700_000_005_000_000_000)
            .with_user(user("tanaka", 1002))
            .with_path("/srv/other/readme.txt"),
    ]
}

#[test]
fn search_filters_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let events = story();
    let ids = append(dir.path(), &events);
    assert_eq!(ids.len(), events.len());
    assert_eq!(ids[0], events[0].id.to_string());

    let out = mamori(
        dir.path(),
        &["search", "--user", "suzuki", "--format", "json"],
    );
    assert!(out.status.success());
    let found: Vec<Event> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        found.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![events[2].id, events[3].id, events[4].id]
    );

    let out = mamori(dir.path(), &["search", "--kind", "warning"]);
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 1, "{table}");
    assert!(
        table.contains("block")
            && table.contains("/media/usb0/memo.docx")
            && table.contains("device:SN-4711"),
        "{table}"
    );

    // The raw My Number never reaches the journal; the label and the masked sample are searchable.
    let out = mamori(
        dir.path(),
        &["search", "--keyword", "label.gokuhi", "--format", "csv"],
    );
    let csv = stdout(&out);
    assert!(csv.starts_with("id,time,user,kind,op,path"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains("12********18") && !csv.contains("123456789018"),
        "{csv}"
    );

    let out = mamori(
        dir.path(),
        &["search", "--file", "/home/suzuki/*", "--format", "json"],
    );
    assert_eq!(stdout(&out).lines().count(), 2);
    let out = mamori(
        dir.path(),
        &[
            "search", "--op", "scan", "--level", "極秘", "--format", "json",
        ],
    );
    assert_eq!(stdout(&out).lines().count(), 1);
    let out = mamori(
        dir.path(),
        &["search", "--channel", "removable_media", "--format", "ocsf"],
    );
    let ocsf: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(ocsf["class_uid"], 2006);
    assert_eq!(ocsf["disposition_id"], 2);
    let out = mamori(
        dir.path(),
        &[
            "search",
            "--since",
            "2023-11-14T22:13:21Z",
            "--until",
            "2023-11-14T22:13:23Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(stdout(&out).lines().count(), 2);

    // Bad filters are clear errors with exit 2.
    let out = mamori(dir.path(), &["search", "--op", "teleport"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--op"));
    let out = mamori(dir.path(), &["search", "--since", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));

    // Searching twice (catching up twice) stores each event once.
    let out = mamori(dir.path(), &["ingest"]);
    assert!(stdout(&out).contains("store holds 6"), "{}", stdout(&out));
}

#[test]
fn trail_shows_the_life_of_a_file_and_its_copies() {
    let dir = tempfile::tempdir().unwrap();
    let events = story();
    append(dir.path(), &events);
    let out = mamori(
        dir.path(),
        &["trail", "/srv/project/plan.docx", "--format", "json"],
    );
    assert!(out.status.success());
    let trail: Vec<Event> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<Operation> = trail.iter().map(|e| e.op).collect();
    assert_eq!(
        ops,
        vec![
            Operation::Create,
            Operation::Scan,
            Operation::Copy,
            Operation::Rename,
            Operation::Write
        ]
    );
    let out = mamori(dir.path(), &["trail", "/nowhere"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn verify_passes_then_names_the_modified_record() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), &story());
    let out = mamori(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));

    let seg = dir.path().join("journal/seg-0000000000000001.mj");
    let mut bytes = std::fs::read(&seg).unwrap();
    let pos = bytes.windows(6).position(|w| w == b"tanaka").unwrap();
    bytes[pos] = b'T';
    std::fs::write(&seg, &bytes).unwrap();
    let out = mamori(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("modified") && text.contains("record 7"),
        "{text}"
    );
    let out = mamori(dir.path(), &["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problem"]["kind"], "modified");
    assert_eq!(
        report["problem"]["seq"], 7,
        "the first batch is followed by a checkpoint frame"
    );
}

#[test]
fn tail_follow_shows_new_warnings_as_they_happen() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), &story()[..1]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args([
            "log",
            "tail",
            "-f",
            "-n",
            "0",
            "--kind",
            "warning",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let audit = Event::new(Operation::Open).with_path("/quiet");
    let warning = Event::new(Operation::Upload)
        .with_path("/srv/x")
        .with_channel(Channel::WebUpload)
        .with_decision(block());
    append(dir.path(), &[audit, warning.clone()]);
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("tail -f printed nothing");
    let shown: Event = serde_json::from_str(&line).unwrap();
    assert_eq!(shown.id, warning.id);
    assert!(
        rx.recv_timeout(Duration::from_millis(700)).is_err(),
        "the audit event must be filtered out"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn export_writes_json_lines_and_ocsf() {
    let dir = tempfile::tempdir().unwrap();
    let events = story();
    append(dir.path(), &events);
    let out = mamori(
        dir.path(),
        &["export", "--format", "ocsf", "--user", "sato"],
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["class_uid"], 1001);
    assert_eq!(lines[0]["activity_id"], 1);
    assert_eq!(lines[0]["actor"]["user"]["name"], "sato");
    let out = mamori(dir.path(), &["export"]);
    assert_eq!(stdout(&out).lines().count(), events.len());
}

/// A writer killed with SIGKILL at random moments, again and again: every acknowledged event
/// must be there afterwards and the journal must verify.
#[test]
fn crash_kill9_loses_no_acknowledged_event() {
    const RUNS: u32 = 100;
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    for run in 0..RUNS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mamori"))
            .args([
                "log",
                "append",
                "--generate",
                "100000000",
                "--commit-window-ms",
                "1",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.len() == 36)
                .collect::<Vec<String>>()
        });
        // xorshift: a kill moment between 5 and 100 ms after start (some runs die while opening).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(5 + rng % 96));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let ids = reader.join().unwrap();
        if status.success() {
            panic!("run {run}: the writer was supposed to be killed");
        }
        acknowledged.extend(ids);
    }
    assert!(
        !acknowledged.is_empty(),
        "no writer ever acknowledged an event"
    );
    let out = mamori(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = mamori(dir.path(), &["export", "--limit", "100000000"]);
    let stored: std::collections::HashSet<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).unwrap().id.to_string())
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    eprintln!(
        "crash test: {RUNS} kills, {} acknowledged events, all present, verify intact ({:?})",
        acknowledged.len(),
        started.elapsed()
    );
}

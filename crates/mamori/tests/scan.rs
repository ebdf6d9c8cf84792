//! Integration tests: `mamori scan` and `mamori inspect` driven as a user would.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mamori() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mamori"));
    cmd.env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    cmd
}

fn scan(args: &[&str], dir: &Path) -> Output {
    mamori()
        .arg("scan")
        .arg("--no-progress")
        .args(args)
        .arg(dir)
        .output()
        .unwrap()
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A minimal DOCX whose body splits 社外秘 across two runs, as Word does after an edit.
fn docx_with_split_label() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("[Content_Types].xml", opts).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
        z.start_file("_rels/.rels", opts).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#).unwrap();
        z.start_file("word/document.xml", opts).unwrap();
        z.write_all("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>本書は社外</w:t></w:r><w:r><w:t>秘です。</w:t></w:r></w:p></w:body></w:document>".as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Each walker thread inspects a file only after it has opened the next ones (so the disk reads
/// them meanwhile): every file must still be reported exactly once, whatever the thread
/// count, in trees larger and smaller than the look-ahead, with unreadable files among them.
#[test]
fn every_file_is_reported_once_whatever_the_threads() {
    use std::os::unix::fs::PermissionsExt as _;
    let as_root = nix::unistd::geteuid().is_root();
    for files in [1usize, 3, 40] {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..files {
            write(
                dir.path(),
                &format!("d{}/f{i}.txt", i % 3),
                format!("社外秘 {i}"),
            );
        }
        let unreadable = dir.path().join("d0/locked.txt");
        std::fs::write(&unreadable, "社外秘").unwrap();
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
        for threads in ["1", "2", "5"] {
            let out = scan(&["--format", "json", "-j", threads], dir.path());
            let mut paths: Vec<String> = json_lines(&out)
                .iter()
                .map(|v| v["path"].as_str().unwrap().to_owned())
                .collect();
            paths.sort();
            let mut expected: Vec<String> = (0..files)
                .map(|i| {
                    dir.path()
                        .join(format!("d{}/f{i}.txt", i % 3))
                        .display()
                        .to_string()
                })
                .collect();
            if as_root {
                // Root reads a file whatever its mode.
                expected.push(unreadable.display().to_string());
            }
            expected.sort();
            assert_eq!(paths, expected, "{files} files, -j {threads}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if as_root {
                assert_eq!(out.status.code(), Some(1), "{stderr}");
            } else {
                assert_eq!(out.status.code(), Some(2), "{stderr}");
                assert!(stderr.contains("locked.txt"), "{stderr}");
            }
        }
    }
}

#[test]
fn clean_tree_exits_zero_and_prints_nothing_as_json() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.txt",
        "明日の会議は10時からです。Lunch at noon.\n",
    );
    write(dir.path(), "sub/b.txt", "nothing to see here\n");
    let out = scan(&["--format", "json"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let all = scan(&["--format", "json", "--all"], dir.path());
    assert_eq!(json_lines(&all).len(), 2);
}

#[test]
fn label_in_text_is_found_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "memo.txt", "【社外秘】新製品の配合について\n");
    write(dir.path(), "clean.txt", "秘書課への連絡\n");
    let out = scan(&["--format", "json"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["path"].as_str().unwrap().ends_with("memo.txt"));
    let finding = &lines[0]["findings"][0];
    assert_eq!(finding["category"], "label");
    assert!(finding["detector"].as_str().unwrap().starts_with("label."));
    assert!(lines[0]["uninspectable"].is_null());
}

#[test]
fn renamed_docx_is_read_by_content_and_split_runs_join() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "holiday.jpg", docx_with_split_label());
    let out = scan(&["--format", "json"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines = json_lines(&out);
    let findings = lines[0]["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["category"] == "label"),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["location"]
            .as_str()
            .unwrap()
            .contains("word/document.xml")),
        "{findings:?}"
    );
}

#[test]
fn my_number_in_full_width_digits_is_found_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "form.txt",
        "個人番号：１２３４　５６７８　９０１８\n",
    );
    let out = scan(&["--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = json_lines(&out);
    let finding = lines[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["category"] == "personal_id")
        .unwrap_or_else(|| panic!("no personal_id finding in {stdout}"));
    assert_eq!(
        finding["confidence"], "high",
        "context word 個人番号 is right there"
    );
    assert!(
        !stdout.contains("123456789018") && !stdout.contains("５６７８"),
        "secret leaked: {stdout}"
    );
    // --show-secrets is the investigator's explicit choice.
    let raw = scan(&["--format", "json", "--show-secrets"], dir.path());
    let raw_out = String::from_utf8_lossy(&raw.stdout);
    assert!(
        raw_out.contains("5678") || raw_out.contains("５６７８"),
        "{raw_out}"
    );
}

#[test]
fn unreadable_path_exits_two_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let out = mamori()
        .args(["scan", "--no-progress"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist"));
}

#[test]
fn findings_and_errors_together_exit_two_and_say_both() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "memo.txt", "社外秘\n");
    let out = mamori()
        .args(["scan", "--no-progress", "--format", "json"])
        .arg(dir.path())
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing") && stderr.contains("findings in 1 files"),
        "{stderr}"
    );
    assert_eq!(json_lines(&out).len(), 1);
}

#[test]
fn exclude_globs_skip_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cache/memo.txt", "極秘\n");
    write(dir.path(), "docs/memo.txt", "極秘\n");
    let out = scan(
        &["--format", "json", "--exclude", "**/cache/**"],
        dir.path(),
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["path"].as_str().unwrap().contains("docs"));
}

#[test]
fn csv_and_sarif_outputs_parse() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "memo.txt", "Strictly Confidential\n");
    let csv = scan(&["--format", "csv"], dir.path());
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(
        text.starts_with("path,level,content_type,detector"),
        "{text}"
    );
    assert!(text.lines().count() >= 2);
    let sarif = scan(&["--format", "sarif"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(!v["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn text_report_follows_the_locale() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "memo.txt", "社外秘\n");
    let out = mamori()
        .env("LANG", "ja_JP.UTF-8")
        .args(["scan", "--no-progress"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ファイル") && text.contains("検出あり"),
        "{text}"
    );
    let out = mamori()
        .args(["scan", "--no-progress", "--lang", "en"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("with findings"));
}

#[test]
fn inspect_reads_standard_input() {
    let mut child = mamori()
        .args(["inspect", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("Internal Use Only: 機密情報\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["path"], "-");
    assert!(
        lines[0]["findings"].as_array().unwrap().len() >= 2,
        "{lines:?}"
    );
}

#[test]
fn corrupt_archive_is_uninspectable_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut zip = docx_with_split_label();
    zip.truncate(zip.len() / 2);
    write(dir.path(), "broken.docx", zip);
    let out = scan(&["--format", "json"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable archive must not pass as clean"
    );
    let lines = json_lines(&out);
    assert!(lines[0]["uninspectable"].is_string(), "{lines:?}");
}

#[test]
fn rules_file_adds_a_dictionary_and_bad_rules_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plan.txt", "さくら計画 第2版の日程\n");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[dictionary]]\nid = \"keyword.project_sakura\"\nwords = [\"さくら計画\"]\n",
    )
    .unwrap();
    let out = mamori()
        .args(["scan", "--no-progress", "--format", "json", "--rules"])
        .arg(&rules)
        .arg(dir.path().join("plan.txt"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_lines(&out)[0]["findings"][0]["detector"],
        "keyword.project_sakura"
    );

    std::fs::write(
        &rules,
        "[[regex]]\nid = \"custom.bad\"\npattern = \"EMP-(\"\n",
    )
    .unwrap();
    let out = mamori()
        .args(["scan", "--no-progress", "--rules"])
        .arg(&rules)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rules.toml:3:") && stderr.contains("pattern"),
        "{stderr}"
    );

    let check = mamori()
        .args(["rules", "check"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let builtin = mamori().args(["rules", "check"]).output().unwrap();
    assert_eq!(
        builtin.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&builtin.stderr)
    );
}

#[test]
fn scan_reports_levels_from_the_policy_and_records_to_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(dir.path(), "top.txt", "【極秘】次期製品の配合表\n");
    write(dir.path(), "internal.txt", "社外秘\n");
    write(dir.path(), "public.txt", "お知らせ\n");
    let out = mamori()
        .args([
            "scan",
            "--no-progress",
            "--format",
            "json",
            "--record",
            "--all",
            "--data-dir",
        ])
        .arg(data.path())
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let level_of = |name: &str| {
        json_lines(&out)
            .into_iter()
            .find(|l| l["path"].as_str().unwrap().ends_with(name))
            .unwrap()["level"]
            .clone()
    };
    assert_eq!(level_of("top.txt"), "top_secret");
    assert_eq!(level_of("internal.txt"), "internal");
    assert_eq!(level_of("public.txt"), "public");

    // The two files with findings are evidence now, searchable and verifiable.
    let search = mamori()
        .args([
            "log",
            "search",
            "--op",
            "scan",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        search.status.success(),
        "{}",
        String::from_utf8_lossy(&search.stderr)
    );
    let events: Vec<serde_json::Value> = json_lines(&search);
    assert_eq!(events.len(), 2, "{events:?}");
    let top = events
        .iter()
        .find(|e| e.to_string().contains("top.txt"))
        .unwrap();
    assert_eq!(top["level"], "top_secret", "{top}");
    let verify = mamori()
        .args(["log", "verify", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

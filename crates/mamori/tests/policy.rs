//! Drives the real `mamori` binary: `mamori policy ...` and `mamori label`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mamori-policy-test-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mamori(args: &[&str]) -> Output {
    mamori_lang(args, "C.UTF-8")
}

fn mamori_lang(args: &[&str], lang: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .output()
        .expect("run mamori")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn default_policy_is_printed_and_checks_clean() {
    let dir = TempDir::new("default");
    let out = mamori(&["policy", "default"]);
    assert!(out.status.success());
    let policy = text(&out.stdout);
    assert!(
        policy.contains("[[level]]") && policy.contains("極秘"),
        "{policy}"
    );
    let file = dir.path("policy.toml");
    std::fs::write(&file, &policy).unwrap();
    let out = mamori(&["policy", "check", p(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": ok: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_lists_every_error_with_position_and_exits_2() {
    let dir = TempDir::new("check");
    let file = dir.path("bad.toml");
    std::fs::write(
        &file,
        "[policy]\nversion = 1\n[[level]]\nid = \"secret\"\nja = \"秘\"\nen = \"Secret\"\n\
         [[rule]]\nid = \"r\"\nlevels = [\"secert\"]\nchannels = [\"usb\"]\naction = \"block\"\n\
         [[rule]]\nid = \"r\"\naction = \"block\"\n",
    )
    .unwrap();
    let out = mamori(&["policy", "check", p(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let f = p(&file);
    let expected = [
        format!("{f}:9:11: rule.r.levels: unknown level `secert`; defined levels: secret"),
        format!(
            "{f}:10:13: rule.r.channels: unknown channel `usb`; expected one of: file_access, local_copy, removable_media, network_share, print, web_upload, mail"
        ),
        format!("{f}:13:6: rule.r.id: duplicate id `r` (first defined on line 8)"),
        format!("{f}: 3 error(s) / 3 件のエラー"),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines, expected, "{stderr}");

    let out = mamori_lang(&["policy", "check", p(&file)], "ja_JP.UTF-8");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{f}:9:11: rule.r.levels: 不明なレベル `secert` です。"
        )),
        "{stderr}"
    );
}

#[test]
fn explain_gives_level_decision_and_rules_as_json_and_text() {
    let dir = TempDir::new("explain");
    std::fs::create_dir_all(dir.path("rd")).unwrap();
    let doc = dir.path("rd/plan.txt");
    std::fs::write(&doc, "plan\n").unwrap();
    let policy = dir.path("policy.toml");
    std::fs::write(
        &policy,
        "[policy]\nversion = 2\n[internal]\nmail_domains = [\"corp.example\"]\n\
         [[level]]\nid = \"secret\"\nja = \"秘\"\nen = \"Secret\"\n\
         [[level]]\nid = \"public\"\nja = \"公開\"\nen = \"Public\"\n\
         [[classify]]\nid = \"rd\"\nlevel = \"secret\"\npaths = [\"**/rd/**\"]\n\
         [[rule]]\nid = \"secret-external-mail\"\nlevels = [\"secret\"]\nmail_to = \"external\"\naction = \"block\"\n\
         [[rule]]\nid = \"partner\"\nlevels = [\"secret\"]\nmail_domains = [\"partner.example\"]\naction = \"justify\"\nexception = true\n",
    )
    .unwrap();
    let explain = |dest: &str, format: &str| {
        mamori(&[
            "policy",
            "explain",
            "--policy",
            p(&policy),
            "--file",
            p(&doc),
            "--channel",
            "mail",
            "--user",
            "nobody-here",
            "--group",
            "sales",
            "--destination",
            dest,
            "--format",
            format,
        ])
    };
    let out = explain("x@gmail.com", "json");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["level"], "secret");
    assert_eq!(json["action"], "block");
    assert_eq!(json["rules"], serde_json::json!(["secret-external-mail"]));
    assert_eq!(
        json["reason"]["ja"],
        "秘のファイルはメールで送信することができません (rule secret-external-mail)"
    );
    assert_eq!(
        json["reason"]["en"],
        "Secret files may not be sent by mail (rule secret-external-mail)"
    );
    assert_eq!(json["classified_by"][0]["rule"], "rd");
    assert_eq!(json["classified_by"][0]["kind"], "path");
    assert_eq!(json["policy"]["version"], 2);

    let out = explain("a@partner.example", "json");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["action"], "justify");
    assert_eq!(
        json["rules"],
        serde_json::json!(["partner", "secret-external-mail"])
    );

    let out = explain("a@corp.example", "text");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("action / 動作:          audit"), "{stdout}");
    assert!(stdout.contains("(none: default action audit)"), "{stdout}");
    assert!(
        stdout.contains("its path matches **/rd/**: Secret (rule rd)"),
        "{stdout}"
    );
}

#[test]
fn explain_refuses_bad_channel_and_destination() {
    let dir = TempDir::new("explain-bad");
    let doc = dir.path("a.txt");
    std::fs::write(&doc, "x").unwrap();
    let out = mamori(&["policy", "explain", "--file", p(&doc), "--channel", "usb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown channel `usb`"),
        "{}",
        text(&out.stderr)
    );
    let out = mamori(&[
        "policy",
        "explain",
        "--file",
        p(&doc),
        "--channel",
        "removable_media",
        "--destination",
        "sandisk",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad destination `sandisk` for channel removable_media"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sign_and_verify() {
    let dir = TempDir::new("sign");
    let (secret, public, policy) = (dir.path("k.key"), dir.path("k.pub"), dir.path("p.toml"));
    std::fs::write(&policy, mamori_policy_default()).unwrap();
    let out = mamori(&[
        "policy",
        "keygen",
        "--secret-key",
        p(&secret),
        "--public-key",
        p(&public),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // keygen never overwrites a key.
    let out = mamori(&[
        "policy",
        "keygen",
        "--secret-key",
        p(&secret),
        "--public-key",
        p(&public),
    ]);
    assert_eq!(out.status.code(), Some(2));

    let out = mamori(&["policy", "verify", p(&policy), "--key", p(&public)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not signed"),
        "{}",
        text(&out.stderr)
    );

    let out = mamori(&["policy", "sign", p(&policy), "--key", p(&secret)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path("p.toml.sig").exists());
    let out = mamori(&["policy", "verify", p(&policy), "--key", p(&public)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("good signature"));

    // Changed after signing.
    let mut changed = mamori_policy_default();
    changed = changed.replace("version = 1", "version = 2");
    std::fs::write(&policy, &changed).unwrap();
    let out = mamori(&["policy", "verify", p(&policy), "--key", p(&public)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the policy was changed after it was signed"),
        "{}",
        text(&out.stderr)
    );

    // Signed by another key.
    let (secret2, public2) = (dir.path("k2.key"), dir.path("k2.pub"));
    assert!(
        mamori(&[
            "policy",
            "keygen",
            "--secret-key",
            p(&secret2),
            "--public-key",
            p(&public2)
        ])
        .status
        .success()
    );
    assert!(
        mamori(&["policy", "sign", p(&policy), "--key", p(&secret2)])
            .status
            .success()
    );
    let out = mamori(&["policy", "verify", p(&policy), "--key", p(&public)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("signed by another key"),
        "{}",
        text(&out.stderr)
    );

    // An invalid policy is not signed.
    std::fs::write(&policy, "[policy]\n").unwrap();
    let out = mamori(&["policy", "sign", p(&policy), "--key", p(&secret)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("refusing to sign an invalid policy"),
        "{}",
        text(&out.stderr)
    );
}

fn mamori_policy_default() -> String {
    text(&mamori(&["policy", "default"]).stdout)
}

#[test]
fn label_set_show_clear() {
    let dir = TempDir::new("label");
    let file = dir.path("doc.txt");
    std::fs::write(&file, "x").unwrap();
    let out = mamori(&["label", p(&file), "--level", "secret"]);
    if out.status.code() == Some(2)
        && text(&out.stderr).contains("does not support extended attributes")
    {
        // The temporary directory's filesystem has no user xattrs: the error must say so.
        assert!(text(&out.stderr).contains("ラベルを保存できません"));
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = mamori(&["label", p(&file)]);
    assert!(
        text(&out.stdout).ends_with(": secret (秘 / Secret)\n"),
        "{}",
        text(&out.stdout)
    );
    // The label travels with a rename.
    let moved = dir.path("renamed.txt");
    std::fs::rename(&file, &moved).unwrap();
    let out = mamori(&[
        "policy",
        "explain",
        "--file",
        p(&moved),
        "--channel",
        "mail",
        "--destination",
        "x@gmail.com",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["level"], "secret");
    assert_eq!(json["label"], "secret");
    assert_eq!(json["action"], "block");
    let out = mamori(&["label", p(&moved), "--clear"]);
    assert!(text(&out.stdout).contains("label removed"));
    let out = mamori(&["label", p(&moved)]);
    assert!(
        text(&out.stdout).contains("no label"),
        "{}",
        text(&out.stdout)
    );
    let out = mamori(&["label", p(&moved), "--level", "kimitsu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown level `kimitsu`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn label_on_a_missing_file_is_an_error() {
    let out = mamori(&["label", "/nonexistent/mamori/file", "--level", "secret"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot open /nonexistent/mamori/file"),
        "{}",
        text(&out.stderr)
    );
}

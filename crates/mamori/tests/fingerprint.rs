//! `mamori fingerprint` and `mamori edm`, driven through the real binary on text the tests
//! generate.

use std::path::Path;
use std::process::{Command, Output};

fn mamori(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mamori"))
        .arg(args[0])
        .arg("--data-dir")
        .arg(data_dir)
        .args(&args[1..])
        .env_remove("MAMORI_DATA_DIR")
        .output()
        .expect("run mamori")
}

/// `mamori fingerprint add --level LEVEL --name NAME [EXTRA...] PATH`.
fn add_document(data: &Path, level: &str, name: &str, path: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["fingerprint", "add"];
    args.extend_from_slice(extra);
    args.extend(["--level", level, "--name", name, path.to_str().unwrap()]);
    mamori(data, &args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Deterministic pseudo-Japanese prose: kanji and kana drawn from a hash sequence, cut into
/// sentences.
fn prose(seed: u64, chars: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::new();
    for i in 0..chars {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = if x.is_multiple_of(3) {
            char::from_u32(0x3042 + (x >> 20) as u32 % 80).unwrap()
        } else {
            char::from_u32(0x4E00 + (x >> 20) as u32 % 3000).unwrap()
        };
        out.push(c);
        if i % 37 == 36 {
            out.push('。');
        }
    }
    out
}

fn to_full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
            c => c,
        })
        .collect()
}

#[test]
fn registered_document_is_found_in_copies_and_not_in_unrelated_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let paragraphs: Vec<String> = (0..5).map(|i| prose(100 + i, 300)).collect();
    let spec = tmp.path().join("spec.txt");
    std::fs::write(&spec, paragraphs.join("\n\n")).unwrap();

    let out = add_document(&data, "gokuhi", "設計書", &spec, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("設計書"), "{out:?}");
    assert!(data.join("fingerprints/documents.idx").is_file());

    // Registering the same name again is refused (exit 2) unless --replace.
    let again = add_document(&data, "gokuhi", "設計書", &spec, &[]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let replaced = add_document(&data, "gokuhi", "設計書", &spec, &["--replace"]);
    assert!(replaced.status.success(), "{replaced:?}");

    // One 200-character paragraph in an unrelated mail, re-wrapped and in full width.
    let pasted: String = paragraphs[2]
        .chars()
        .take(200)
        .collect::<Vec<_>>()
        .chunks(23)
        .map(|line| line.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\r\n  ");
    let mail = tmp.path().join("mail.txt");
    std::fs::write(
        &mail,
        format!(
            "{}\n{}\n{}",
            prose(900, 500),
            to_full_width(&pasted),
            prose(901, 500)
        ),
    )
    .unwrap();
    let unrelated = tmp.path().join("unrelated.txt");
    std::fs::write(&unrelated, prose(902, 3000)).unwrap();

    let out = mamori(&data, &["fingerprint", "check", mail.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("設計書 [gokuhi]"), "{}", stdout(&out));

    let out = mamori(
        &data,
        &["fingerprint", "check", unrelated.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = mamori(
        &data,
        &[
            "fingerprint",
            "check",
            "--format",
            "json",
            mail.to_str().unwrap(),
            unrelated.to_str().unwrap(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    let finding = &files[0]["findings"][0];
    assert_eq!(finding["detector"], "fingerprint.document");
    assert_eq!(finding["category"], "fingerprint");
    assert_eq!(finding["document"]["document"], "設計書");
    assert_eq!(finding["document"]["level"], "gokuhi");
    let containment = finding["document"]["containment"].as_f64().unwrap();
    assert!(containment > 0.05 && containment < 0.3, "{containment}");
    assert!(files[1]["findings"].as_array().unwrap().is_empty());
}

#[test]
fn list_stats_remove_and_common_text() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    let letterhead = prose(7, 300);
    std::fs::write(
        docs.join("a.txt"),
        format!("{letterhead}\n{}", prose(1, 800)),
    )
    .unwrap();
    std::fs::write(docs.join("sub/b.txt"), prose(2, 800)).unwrap();
    let common = tmp.path().join("letterhead.txt");
    std::fs::write(&common, &letterhead).unwrap();

    let out = mamori(&data, &["fingerprint", "common", common.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let out = add_document(&data, "hi", "proj", &docs, &[]);
    assert!(out.status.success(), "{out:?}");

    let out = mamori(&data, &["fingerprint", "list", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["proj/a.txt", "proj/sub/b.txt"]);

    let out = mamori(&data, &["fingerprint", "stats", "--format", "json"]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["documents"], 2);
    assert!(stats["stopped"].as_u64().unwrap() > 5, "{stats}");
    assert!(stats["bytes_per_text_mb"].as_f64().unwrap() > 0.0);
    let human = mamori(&data, &["fingerprint", "stats"]);
    assert!(stdout(&human).contains("bytes per text MB"), "{human:?}");

    // A letter that shares only the declared letterhead is not a match.
    let letter = tmp.path().join("letter.txt");
    std::fs::write(&letter, format!("{letterhead}\n{}", prose(3, 800))).unwrap();
    let out = mamori(&data, &["fingerprint", "check", letter.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = mamori(&data, &["fingerprint", "remove", "proj/a.txt"]);
    assert!(out.status.success(), "{out:?}");
    let out = mamori(&data, &["fingerprint", "remove", "proj/a.txt"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = mamori(&data, &["fingerprint", "list"]);
    assert!(!stdout(&out).contains("proj/a.txt"));
    assert!(stdout(&out).contains("proj/sub/b.txt"));
}

#[test]
fn corrupt_index_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("broken.idx");
    std::fs::write(&index, b"MAMORIFP\x01\x00\x00\x00garbage-garbage").unwrap();
    let file = tmp.path().join("x.txt");
    std::fs::write(&file, "text").unwrap();
    let out = mamori(
        tmp.path(),
        &[
            "fingerprint",
            "--index",
            index.to_str().unwrap(),
            "check",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.idx") && stderr.contains("not a valid fingerprint index"),
        "{stderr}"
    );

    let out = mamori(&tmp.path().join("empty"), &["fingerprint", "list"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn edm_finds_a_record_but_not_a_common_surname() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let csv = tmp.path().join("customers.csv");
    std::fs::write(
        &csv,
        "氏名,個人番号,電話番号,メール\n\
         山田太郎,123456789018,03-1234-5678,taro@example.jp\n\
         佐藤花子,983205673214,06-9876-5432,hanako@example.jp\n\
         佐藤一郎,548836529885,045-111-2222,ichiro@example.jp\n",
    )
    .unwrap();
    let out = mamori(
        &data,
        &[
            "edm",
            "add",
            "--level",
            "kojin",
            "--name",
            "customers",
            "--columns",
            "氏名,個人番号,電話番号",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("3 行 / rows"), "{}", stdout(&out));
    let table = std::fs::read(data.join("fingerprints/edm/customers.edm")).unwrap();
    assert!(!String::from_utf8_lossy(&table).contains("山田"));
    assert!(!table.windows(12).any(|w| w == b"123456789018"));
    use std::os::unix::fs::PermissionsExt as _;
    let key_mode = std::fs::metadata(data.join("fingerprints/edm.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    let mail = tmp.path().join("mail.txt");
    std::fs::write(
        &mail,
        "お客様: 佐藤 花子 様\n個人番号: ９８３２－０５６７－３２１４\n",
    )
    .unwrap();
    let surname = tmp.path().join("surname.txt");
    std::fs::write(&surname, "佐藤さんと山田さんが来社。電話は 03-0000-0000。").unwrap();

    let out = mamori(
        &data,
        &[
            "edm",
            "check",
            "--format",
            "json",
            mail.to_str().unwrap(),
            surname.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["findings"][0]["detector"], "edm.customers");
    assert_eq!(files[0]["findings"][0]["category"], "exact_data");
    assert_eq!(files[0]["findings"][0]["count"], 1);
    assert!(files[1]["findings"].as_array().unwrap().is_empty());

    let out = mamori(&data, &["edm", "check", surname.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = mamori(&data, &["edm", "list"]);
    assert!(stdout(&out).contains("customers"), "{out:?}");
    let out = mamori(
        &data,
        &[
            "edm",
            "add",
            "--level",
            "kojin",
            "--name",
            "customers",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = mamori(&data, &["edm", "remove", "customers"]);
    assert!(out.status.success(), "{out:?}");
    let out = mamori(&data, &["edm", "check", mail.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn thorough_fingerprints_find_english_re_spaced_throughout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let plan = "The Mamori module measures one hundred and twenty millimetres across, its \
                firmware implements the monitoring mode, and the manufacturing margin must \
                remain confidential until the product announcement in May. Samples come from \
                the main plant in Kumamoto and the memory supplier named in the maintenance plan.";
    let source = tmp.path().join("plan.txt");
    std::fs::write(&source, plan).unwrap();
    let out = add_document(&data, "gokuhi", "plan", &source, &[]);
    assert!(out.status.success(), "{out:?}");
    // Every space doubled, inside a longer unrelated text: each anchor's window holds a
    // doubled space, so the default scan (winnowing only around registered anchors) does not
    // reach it; the thorough one winnows everything and finds it.
    let copy = tmp.path().join("out").join("mail.txt");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::write(
        &copy,
        format!(
            "{}\n{}\n{}",
            prose(7, 3000),
            plan.replace(' ', "  "),
            prose(8, 3000)
        ),
    )
    .unwrap();
    let dir = copy.parent().unwrap().to_str().unwrap();
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--format", "json", "--no-progress"];
        args.extend_from_slice(extra);
        args.push(dir);
        mamori(&data, &args)
    };
    let default = scan(&[]);
    assert!(
        !stdout(&default).contains("fingerprint.document"),
        "{default:?}"
    );
    let thorough = scan(&["--thorough-fingerprints"]);
    assert_eq!(thorough.status.code(), Some(1), "{thorough:?}");
    assert!(
        stdout(&thorough).contains("fingerprint.document"),
        "{thorough:?}"
    );
    assert!(stdout(&thorough).contains("plan"), "{thorough:?}");
}

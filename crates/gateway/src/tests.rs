use super::*;

use mamori_model::Category;

fn gatekeeper() -> Gatekeeper {
    let inspector = mamori_inspect::InspectorBuilder::new()
        .build()
        .expect("default inspector");
    Gatekeeper::new(inspector, Policy::default_policy())
}

/// One part uploaded to a web site by an ordinary user.
fn upload(g: &Gatekeeper, part: Part) -> Judgement {
    g.judge(
        &[part],
        Channel::WebUpload,
        &Principal::new("a"),
        &Destination::Url("https://u.example/".into()),
    )
}

fn mail(to: &[&str]) -> Destination {
    Destination::Mail(to.iter().map(|s| s.to_string()).collect())
}

#[test]
fn clean_part_is_public_and_allowed_or_audited() {
    let g = gatekeeper();
    let part = g.inspect_bytes(Some("hello.txt"), b"just a note about lunch");
    assert!(part.findings.is_empty());
    let j = g.judge(
        &[part],
        Channel::WebUpload,
        &Principal::new("sato"),
        &Destination::Url("https://x.example/u".into()),
    );
    assert_eq!(j.level, "public");
    assert!(!j.stops());
    assert_eq!(j.parts.len(), 1);
    assert_eq!(j.parts[0].level, "public");
}

#[test]
fn the_highest_part_decides_and_findings_are_located_by_part_name() {
    let g = gatekeeper();
    let clean = g.inspect_bytes(Some("a.txt"), b"nothing here");
    let secret = g.inspect_bytes(Some("b.txt"), "極秘 設計図".as_bytes());
    let j = g.judge(
        &[clean, secret],
        Channel::Mail,
        &Principal::new("sato"),
        &mail(&["partner@example.com"]),
    );
    assert_eq!(j.level, "top_secret");
    assert_eq!(j.decision.action, Action::Block);
    assert!(j.stops());
    assert_eq!(
        j.decision.rules.first().map(String::as_str),
        Some("top-secret-never-leaves")
    );
    let f = j
        .findings
        .iter()
        .find(|f| f.category == Category::Label)
        .expect("a label finding");
    assert_eq!(
        f.location.segments.first().map(String::as_str),
        Some("b.txt")
    );
    assert_eq!(j.parts[0].level, "public");
    assert_eq!(j.parts[1].level, "top_secret");
    assert_eq!(
        j.destination.recipients,
        vec!["partner@example.com".to_string()]
    );
}

#[test]
fn strictest_recipient_wins() {
    let g = gatekeeper();
    let policy = g.policy();
    let internal = Some("example.co.jp").filter(|d| policy.is_internal_mail_domain(d));
    assert!(
        internal.is_some(),
        "the default policy's internal domain changed"
    );
    let part = g.inspect_bytes(None, "社外秘\n来期の計画".as_bytes());
    let external_only = g.judge(
        std::slice::from_ref(&part),
        Channel::Mail,
        &Principal::new("a"),
        &mail(&["x@gmail.com"]),
    );
    assert_eq!(external_only.level, "internal");
    assert_eq!(external_only.decision.action, Action::Notify);
    if let Some(domain) = internal {
        let inside = format!("y@{domain}");
        let mixed = g.judge(
            std::slice::from_ref(&part),
            Channel::Mail,
            &Principal::new("a"),
            &mail(&[&inside, "x@gmail.com"]),
        );
        assert_eq!(mixed.decision.action, Action::Notify);
        let only_inside = g.judge(
            &[part],
            Channel::Mail,
            &Principal::new("a"),
            &mail(&[&inside]),
        );
        assert!(only_inside.decision.action < Action::Notify);
    }
}

#[test]
fn no_parts_is_the_default_level() {
    let g = gatekeeper();
    let j = g.judge(
        &[],
        Channel::Print,
        &Principal::new("a"),
        &Destination::Printer("p".into()),
    );
    assert_eq!(j.level, "public");
    assert!(j.findings.is_empty());
}

#[test]
fn encrypted_content_is_uninspectable_and_classified() {
    let g = gatekeeper();
    let part = Part {
        name: Some("x.zip".into()),
        content_type: "application/zip".into(),
        bytes: 10,
        findings: Vec::new(),
        uninspectable: vec![Uninspectable {
            location: Location::root().child("a.docx"),
            reason: mamori_model::UninspectableReason::Encrypted,
        }],
    };
    let j = upload(&g, part);
    assert_eq!(j.level, "secret");
    assert!(j.stops());
    assert_eq!(
        j.uninspectable[0].location.segments,
        vec!["x.zip".to_string(), "a.docx".to_string()]
    );
    let en = j.message(Lang::En);
    assert!(
        en.contains("Could not inspect: encrypted content\n"),
        "{en}"
    );
    let ja = j.message(Lang::Ja);
    assert!(ja.contains("検査できない内容: 暗号化された内容\n"), "{ja}");
}

#[test]
fn messages_say_what_was_found_in_the_persons_language() {
    let g = gatekeeper();
    let part = g.inspect_bytes(
        Some("plan.txt"),
        "社外秘\n社外秘\nConfidential\n個人番号 123456789018".as_bytes(),
    );
    let j = upload(&g, part);
    let ids: Vec<&str> = j.found.iter().map(|f| f.detector.as_str()).collect();
    assert_eq!(
        ids[0], "label.shagaihi",
        "surest, then most frequent first: {:?}",
        j.found
    );
    assert_eq!(j.found[0].count, 2);
    assert!(ids.contains(&"jp.my_number"), "{ids:?}");
    let ja = j.message(Lang::Ja);
    assert!(ja.contains("検出: 「社外秘」の表示（2 件）、"), "{ja}");
    assert!(
        !ja.contains("the marking"),
        "no English in the Japanese text: {ja}"
    );
    let en = j.message(Lang::En);
    assert!(
        en.contains("Found: the marking 社外秘 (not for outside the company) (2 times); "),
        "{en}"
    );
    // The ids stay, last, for whoever the person asks for help.
    assert!(ja.contains("\n（管理者向け: label.shagaihi ×2, "), "{ja}");
    assert!(
        en.contains("(For the administrator: label.shagaihi ×2"),
        "{en}"
    );
    assert!(!en.contains("123456789018") && !ja.contains("123456789018"));
}

#[test]
fn a_fingerprint_is_described_by_its_registered_document() {
    let mut finding = Finding::new(
        "fingerprint.document",
        Category::Fingerprint,
        mamori_model::Confidence::High,
    );
    finding.count = 7;
    finding.document = Some(mamori_model::DocumentMatch {
        document: "新製品設計書".into(),
        level: "secret".into(),
        containment: 0.4,
        coverage: 0.9,
    });
    let mut other = finding.clone();
    other.count = 3;
    other.document.as_mut().unwrap().document = "見積基準".into();
    let found = found_for_people(&[finding.clone(), other, finding.clone()], |_| None);
    assert_eq!(found.len(), 2, "one entry per document: {found:?}");
    assert_eq!(found[0].count, 14);
    assert_eq!(
        found[0].text(Lang::Ja),
        "登録された機密文書「新製品設計書」の内容（14 件）"
    );
    assert_eq!(
        found[1].text(Lang::En),
        "text of the registered document \"見積基準\" (3 times)"
    );
    // A sure finding comes before a more frequent unsure one.
    let mut mail = Finding::new(
        "contact.email",
        Category::Contact,
        mamori_model::Confidence::Low,
    );
    mail.count = 30;
    let found = found_for_people(&[mail, finding], |_| None);
    assert_eq!(found[0].detector, "fingerprint.document", "{found:?}");
    // A detector nobody describes is named by its id rather than left out.
    let unknown = Finding::new(
        "custom.rule",
        Category::Keyword,
        mamori_model::Confidence::Low,
    );
    let found = found_for_people(&[unknown], |_| None);
    assert_eq!(found[0].text(Lang::Ja), "custom.rule");
}

#[test]
fn messages_name_detectors_and_rule_but_never_the_secret() {
    let g = gatekeeper();
    let part = g.inspect_bytes(
        Some("list.txt"),
        "個人番号 123456789018\n個人番号 983205673214\n極秘".as_bytes(),
    );
    let j = upload(&g, part);
    let en = j.message(Lang::En);
    assert!(en.contains("jp.my_number"), "{en}");
    assert!(en.contains("Rule: top-secret-never-leaves"), "{en}");
    assert!(!en.contains("123456789018"), "{en}");
    let ja = j.message(Lang::Ja);
    assert!(ja.contains("規則: top-secret-never-leaves"), "{ja}");
    assert!(!ja.contains("983205673214"), "{ja}");
    let event = j.event(Operation::Upload, Channel::WebUpload);
    assert_eq!(event.level.as_deref(), Some("top_secret"));
    assert_eq!(event.kind(), mamori_journal::Kind::Warning);
    let json = debug_text(&event);
    assert!(!json.contains("123456789018"), "{json}");
}

fn debug_text(event: &Event) -> String {
    format!("{event:?}")
}

#[test]
fn inspect_file_reads_from_the_start_and_reports_its_size() {
    use std::io::Write as _;
    let g = gatekeeper();
    let mut file = tempfile::tempfile().expect("temp file");
    file.write_all("Strictly Confidential\n".as_bytes())
        .expect("write");
    let part = g
        .inspect_file(Some("memo.txt"), &mut file)
        .expect("inspect");
    assert_eq!(part.bytes, 22);
    assert!(!part.findings.is_empty());
}

#[test]
fn replaced_policy_is_used_by_later_judgements() {
    let g = gatekeeper();
    let strict = Policy::from_toml(
        r#"
[policy]
name = "strict"
version = 2
default_action = "block"

[[level]]
id = "public"
ja = "公開"
en = "Public"

[classification]
default_level = "public"
"#,
        "strict.toml",
    );
    let strict = match strict {
        Ok(p) => p,
        Err(e) => panic!("test policy: {e}"),
    };
    let part = g.inspect_bytes(None, b"hello");
    let before = g.judge(
        std::slice::from_ref(&part),
        Channel::Print,
        &Principal::new("a"),
        &Destination::Printer("p".into()),
    );
    assert!(!before.stops());
    g.replace_policy(strict);
    let after = g.judge(
        &[part],
        Channel::Print,
        &Principal::new("a"),
        &Destination::Printer("p".into()),
    );
    assert_eq!(after.decision.action, Action::Block);
}

#[test]
fn accept_language_picks_the_preferred_of_ja_and_en() {
    assert_eq!(
        Lang::from_accept_language("en-US,en;q=0.9,ja;q=0.8"),
        Lang::En
    );
    assert_eq!(Lang::from_accept_language("ja,en-US;q=0.9"), Lang::Ja);
    assert_eq!(Lang::from_accept_language("fr-FR, en;q=0.5"), Lang::En);
    assert_eq!(Lang::from_accept_language("de"), Lang::Ja);
    assert_eq!(Lang::from_accept_language(""), Lang::Ja);
    assert_eq!(Lang::from_accept_language("ja;q=0.2, en;q=0.7"), Lang::En);
    assert_eq!(Lang::from_locale("ja_JP.UTF-8"), Lang::Ja);
    assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
}

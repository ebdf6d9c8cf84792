//! Tests of loading, classification and decisions, next to the code.

use std::path::Path;

use mamori_model::{
    Action, Category, Channel, Confidence, DocumentMatch, Finding, Location, Uninspectable,
    UninspectableReason,
};

use crate::*;

const BASE: &str = r#"[policy]
version = 1
[[level]]
id = "secret"
ja = "秘"
en = "Secret"
[[level]]
id = "public"
ja = "公開"
en = "Public"
"#;
/// The first line after `BASE`.
const L: usize = 11;

fn errors(extra: &str) -> Vec<String> {
    match Policy::from_toml(&format!("{BASE}{extra}"), "p.toml") {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

fn one_error(extra: &str) -> String {
    let errors = errors(extra);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

fn load(extra: &str) -> Policy {
    Policy::from_toml(&format!("{BASE}{extra}"), "p.toml").unwrap_or_else(|e| panic!("{e}"))
}

// ----- loading ---------------------------------------------------------------------------------

#[test]
fn default_policy_loads_and_has_four_levels() {
    let policy = Policy::default_policy();
    let names: Vec<_> = policy.levels().rev().map(|(_, l)| l.ja.as_str()).collect();
    assert_eq!(names, ["極秘", "秘", "社外秘", "公開"]);
    assert_eq!(policy.level(policy.default_level()).id, "public");
    assert_eq!(policy.default_action(), Action::Audit);
    assert_eq!(policy.version(), 1);
    assert!(policy.level_id("top_secret") > policy.level_id("secret"));
}

#[test]
fn base_policy_loads() {
    let policy = load("");
    assert_eq!(policy.levels().len(), 2);
    assert_eq!(policy.highest_level(), policy.level_id("secret").unwrap());
    assert_eq!(policy.default_level(), policy.level_id("public").unwrap());
    assert!(policy.rules().is_empty());
}

#[test]
fn syntax_error_has_position() {
    let e = Policy::from_toml("[policy\nversion = 1\n", "p.toml").unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("p.toml:1:"), "{text}");
    assert!(text.contains("TOML syntax error: "), "{text}");
}

#[test]
fn missing_policy_and_levels() {
    let e = Policy::from_toml("", "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.toml:1:1: policy: missing required field\np.toml:1:1: level: missing required field"
    );
}

#[test]
fn missing_version() {
    let e = Policy::from_toml(&BASE.replace("version = 1\n", ""), "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.toml:1:1: policy.version: missing required field"
    );
}

#[test]
fn wrong_type_names_field_and_types() {
    let text = BASE.replace("version = 1", "version = \"1\"");
    let e = Policy::from_toml(&text, "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.toml:2:11: policy.version: expected an integer, found a string"
    );
}

#[test]
fn version_zero_is_invalid() {
    let text = BASE.replace("version = 1", "version = 0");
    let e = Policy::from_toml(&text, "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.toml:2:11: policy.version: invalid value `0`: must be an integer from 1 to 18446744073709551615"
    );
}

#[test]
fn unknown_fields_top_level_and_in_a_table() {
    let e = Policy::from_toml(&format!("colour = 1\n{BASE}"), "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.toml:1:1: (top level): unknown field `colour`; expected one of: policy, level, \
         classification, internal, classify, rule"
    );
    // After `[[level]]`, a key belongs to that level.
    assert_eq!(
        one_error("colour = 1\n"),
        format!(
            "p.toml:{L}:1: level.public: unknown field `colour`; expected one of: id, ja, en, description"
        )
    );
}

#[test]
fn unknown_rule_field_is_a_typo() {
    let e = one_error("[[rule]]\nid = \"r\"\naction = \"block\"\nchanel = [\"mail\"]\n");
    assert!(
        e.starts_with(&format!(
            "p.toml:{}:1: rule.r: unknown field `chanel`; expected one of: id,",
            L + 3
        )),
        "{e}"
    );
}

#[test]
fn unknown_level() {
    assert_eq!(
        one_error("[[rule]]\nid = \"r\"\nlevels = [\"secrte\"]\naction = \"block\"\n"),
        format!(
            "p.toml:{}:11: rule.r.levels: unknown level `secrte`; defined levels: secret, public",
            L + 2
        )
    );
    assert_eq!(
        one_error("[classification]\ndefault_level = \"open\"\n"),
        format!(
            "p.toml:{}:17: classification.default_level: unknown level `open`; defined levels: secret, public",
            L + 1
        )
    );
}

#[test]
fn unknown_detector_by_shape_and_by_list() {
    assert_eq!(
        one_error("[[classify]]\nid = \"c\"\nlevel = \"secret\"\ndetectors = [\"My Number\"]\n"),
        format!(
            "p.toml:{}:14: classify.c.detectors: unknown detector `My Number`",
            L + 3
        )
    );
    let known = |d: &str| d == "jp.my_number";
    let options = LoadOptions {
        known_detector: Some(&known),
    };
    let text = format!(
        "{BASE}[[classify]]\nid = \"c\"\nlevel = \"secret\"\ndetectors = [\"jp.my_number\", \"jp.mynumber\"]\n"
    );
    let e = Policy::from_toml_with(&text, "p.toml", &options).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "p.toml:{}:30: classify.c.detectors: unknown detector `jp.mynumber`",
            L + 3
        )
    );
}

#[test]
fn unknown_names() {
    let cases = [
        (
            "[[rule]]\nid = \"r\"\nchannels = [\"usb\"]\naction = \"block\"\n",
            "rule.r.channels: unknown channel `usb`; expected one of: file_access, local_copy, \
             removable_media, network_share, print, web_upload, mail",
        ),
        (
            "[[rule]]\nid = \"r\"\naction = \"deny\"\n",
            "rule.r.action: unknown action `deny`; expected one of: allow, audit, notify, justify, \
             encrypt, quarantine, block",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\ncategories = [\"pii\"]\n",
            "classify.c.categories: unknown category `pii`; expected one of: label, keyword, \
             personal_id, corporate_id, financial, contact, credential, fingerprint, exact_data, custom",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\ncategories = [\"label\"]\nmin_confidence = \"sure\"\n",
            "classify.c.min_confidence: unknown confidence `sure`; expected one of: low, medium, high",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\nuninspectable = [\"locked\"]\n",
            "classify.c.uninspectable: unknown uninspectable kind `locked`; expected one of: any, \
             encrypted, corrupt, no_text_layer, too_large, too_deep, expansion_limit, \
             compression_ratio, too_many_entries, timeout, parser_failure",
        ),
        (
            "[[rule]]\nid = \"r\"\nmail_to = \"outside\"\naction = \"block\"\n",
            "rule.r.mail_to: unknown mail destination `outside`; expected one of: internal, external",
        ),
        ("[policy]\n", ""),
    ];
    for (extra, message) in cases {
        if message.is_empty() {
            continue;
        }
        let e = one_error(extra);
        assert!(
            e.ends_with(message),
            "{e}\n  expected to end with\n{message}"
        );
        assert!(
            e.starts_with(&format!("p.toml:{}:", L + extra.lines().count() - 1))
                || e.starts_with(&format!("p.toml:{}:", L + 2)),
            "{e}"
        );
    }
}

#[test]
fn bad_globs() {
    let e = one_error("[[classify]]\nid = \"c\"\nlevel = \"secret\"\npaths = [\"/srv/[rd\"]\n");
    assert!(
        e.starts_with(&format!(
            "p.toml:{}:10: classify.c.paths: bad glob `/srv/[rd`: ",
            L + 3
        )),
        "{e}"
    );
    let e = one_error("[[rule]]\nid = \"r\"\nprinters = [\"a{b\"]\naction = \"block\"\n");
    assert!(
        e.starts_with(&format!(
            "p.toml:{}:13: rule.r.printers: bad glob `a{{b`: ",
            L + 2
        )),
        "{e}"
    );
}

#[test]
fn duplicate_ids() {
    let e = one_error(
        "[[rule]]\nid = \"r\"\naction = \"block\"\n[[classify]]\nid = \"r\"\nlevel = \"secret\"\npaths = [\"/x/**\"]\n",
    );
    assert_eq!(
        e,
        format!(
            "p.toml:{}:6: classify.r.id: duplicate id `r` (first defined on line {})",
            L + 4,
            L + 1
        )
    );
    let text = format!("{BASE}[[level]]\nid = \"public\"\nja = \"公開\"\nen = \"Public\"\n");
    let e = Policy::from_toml(&text, "p.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "p.toml:{}:6: level.public.id: duplicate id `public` (first defined on line 8)",
            L + 1
        )
    );
}

#[test]
fn unreachable_rules() {
    let cases = [
        (
            "[[classify]]\nid = \"c\"\nlevel = \"public\"\npaths = [\"/x/**\"]\n",
            "classify.c.level: rule `c` can never match: its level `public` is not above the default level `public`",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\n",
            "classify.c: rule `c` can never match: it has no condition (detectors, categories, paths \
             or uninspectable); use [classification] default_level to set the level of everything",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\npaths = []\n",
            "classify.c.paths: rule `c` can never match: `paths` is an empty list",
        ),
        (
            "[[rule]]\nid = \"r\"\nchannels = []\naction = \"block\"\n",
            "rule.r.channels: rule `r` can never match: `channels` is an empty list",
        ),
        (
            "[[rule]]\nid = \"r\"\nlevels = []\naction = \"block\"\n",
            "rule.r.levels: rule `r` can never match: `levels` is an empty list",
        ),
        (
            "[[rule]]\nid = \"r\"\nchannels = [\"print\"]\nusb = [\"0781:*\"]\naction = \"block\"\n",
            "rule.r.channels: rule `r` can never match: its destination conditions apply only to \
             removable_media, but its channels are print",
        ),
        (
            "[[rule]]\nid = \"r\"\nusb = [\"0781:*\"]\nprinters = [\"p1\"]\naction = \"block\"\n",
            "rule.r: rule `r` can never match: it has destination conditions of different channels \
             (removable_media, print), which no single destination meets",
        ),
        (
            "[[rule]]\nid = \"r\"\nmail_to = \"internal\"\naction = \"allow\"\n",
            "rule.r.mail_to: rule `r` can never match: `mail_to = \"internal\"` but [internal] mail_domains is empty",
        ),
        (
            "[[rule]]\nid = \"r\"\nusers = [\"a\"]\nexcept_users = [\"a\"]\naction = \"allow\"\n",
            "rule.r.users: rule `r` can never match: every user in `users` is also in `except_users`",
        ),
        (
            "[[rule]]\nid = \"r\"\ngroups = [\"g\"]\nexcept_groups = [\"g\"]\naction = \"allow\"\n",
            "rule.r.groups: rule `r` can never match: every group in `groups` is also in `except_groups`",
        ),
    ];
    for (extra, message) in cases {
        let e = one_error(extra);
        assert!(
            e.ends_with(message),
            "{e}\n  expected to end with\n{message}"
        );
    }
}

#[test]
fn invalid_values() {
    let cases = [
        (
            "[[rule]]\nid = \"r\"\nusb = [\"sandisk\"]\naction = \"block\"\n",
            "rule.r.usb: invalid value `sandisk`: expected VENDOR:PRODUCT[:SERIAL] with 4-digit hex \
             ids or `*`, like 0781:5581 or 0781:*",
        ),
        (
            "[[rule]]\nid = \"r\"\nmail_domains = [\"bad domain\"]\naction = \"block\"\n",
            "rule.r.mail_domains: invalid value `bad domain`: expected a domain such as \
             example.co.jp or *.example.co.jp",
        ),
        (
            "[[rule]]\nid = \"r\"\naction = \"block\"\nexception = true\nfinal = true\n",
            "rule.r.final: invalid value `true`: a rule cannot be both an exception and final",
        ),
        (
            "[[rule]]\nid = \"r\"\nlevels = [\"secret\"]\nmin_level = \"public\"\naction = \"block\"\n",
            "rule.r.min_level: invalid value `public`: give either `levels` or `min_level`, not both",
        ),
        (
            "[[rule]]\nid = \"bad id\"\naction = \"block\"\n",
            "rule#1.id: invalid value `bad id`: a rule id is 1 to 128 ASCII letters, digits, `_`, \
             `-`, `.` and `:`",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\ncategories = [\"label\"]\nmin_count = 0\n",
            "classify.c.min_count: invalid value `0`: must be an integer from 1 to 4294967295",
        ),
        (
            "[[classify]]\nid = \"c\"\nlevel = \"secret\"\npaths = [\"/x\"]\nmin_count = 2\n",
            "classify.c.min_count: invalid value `min_count`: needs `detectors` or `categories` to count",
        ),
        (
            "[[rule]]\nid = \"r\"\naction = \"block\"\nexception = \"yes\"\n",
            "rule.r.exception: expected a boolean (true or false), found a string",
        ),
        (
            "[rule]\nid = \"r\"\n",
            "rule: expected an array of tables (write each as [[...]]), found a table",
        ),
        (
            "[[rule]]\nid = \"r\"\n",
            "rule.r.action: missing required field",
        ),
        (
            "[[rule]]\nid = \"r\"\naction = \"block\"\nmessage = { ja = \"だめ\" }\n",
            "rule.r.message.en: missing required field",
        ),
    ];
    for (extra, message) in cases {
        let e = one_error(extra);
        assert!(
            e.ends_with(message),
            "{e}\n  expected to end with\n{message}"
        );
    }
    let text = BASE.replace("id = \"secret\"", "id = \"Secret!\"");
    let e = Policy::from_toml(&text, "p.toml").unwrap_err().to_string();
    assert!(e.ends_with("level#1.id: invalid value `Secret!`: a level id is lower-case ASCII letters, digits, `_` and `-`, starting with a letter"), "{e}");
}

#[test]
fn every_error_is_collected_in_one_pass() {
    let errors = errors(
        "[[rule]]\nid = \"a\"\nlevels = [\"nope\"]\naction = \"deny\"\n\
         [[rule]]\nid = \"b\"\nchannels = [\"fax\"]\naction = \"block\"\ncolour = 1\n\
         [[classify]]\nid = \"c\"\nlevel = \"secret\"\npaths = [\"[\"]\n",
    );
    assert_eq!(errors.len(), 5, "{errors:#?}");
    let lines: Vec<usize> = errors
        .iter()
        .map(|e| e.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "errors come in file order");
}

#[test]
fn too_many_levels() {
    let mut text = String::from("[policy]\nversion = 1\n");
    for i in 0..=MAX_LEVELS {
        text.push_str(&format!(
            "[[level]]\nid = \"l{i}\"\nja = \"l\"\nen = \"l\"\n"
        ));
    }
    let e = Policy::from_toml(&text, "p.toml").unwrap_err().to_string();
    assert!(
        e.ends_with("level: invalid value `17`: a policy may define at most 16 levels"),
        "{e}"
    );
}

#[test]
fn errors_in_japanese() {
    let errors = Policy::from_toml(
        &format!("{BASE}[[rule]]\nid = \"r\"\nlevels = [\"x\"]\naction = \"block\"\n[[rule]]\nid = \"r\"\naction = \"block\"\n"),
        "p.toml",
    )
    .unwrap_err();
    let ja: Vec<String> = errors
        .errors()
        .iter()
        .map(|e| e.to_string_for_lang("ja_JP.UTF-8"))
        .collect();
    assert_eq!(
        ja,
        [
            format!(
                "p.toml:{}:11: rule.r.levels: 不明なレベル `x` です。定義済みのレベル: secret, public",
                L + 2
            ),
            format!(
                "p.toml:{}:6: rule.r.id: ID `r` が重複しています ({} 行目で定義済み)",
                L + 5,
                L + 1
            ),
        ]
    );
    assert_eq!(
        errors.errors()[0].to_string_for_lang("en_US"),
        errors.errors()[0].to_string()
    );
}

#[test]
fn size_and_rule_limits() {
    let huge = format!("{BASE}#{}\n", "x".repeat(MAX_POLICY_BYTES));
    let e = Policy::from_toml(&huge, "p.toml").unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "p.toml:1:1: policy: invalid value `{} bytes`: a policy may not exceed {MAX_POLICY_BYTES} bytes",
            huge.len()
        )
    );
    let mut text = String::from(BASE);
    for i in 0..=MAX_RULES {
        text.push_str(&format!("[[rule]]\nid = \"r{i}\"\naction = \"block\"\n"));
    }
    let e = Policy::from_toml(&text, "p.toml").unwrap_err().to_string();
    assert_eq!(
        e,
        "p.toml:1:1: rule: invalid value `20001`: a policy may define at most 20000 rules"
    );
}

#[test]
fn url_domain_and_internal_domain_validation() {
    let e = one_error("[[rule]]\nid = \"r\"\nurl_domains = [\"https://x\"]\naction = \"block\"\n");
    assert!(e.ends_with("rule.r.url_domains: invalid value `https://x`: expected a domain such as example.co.jp or *.example.co.jp"), "{e}");
    let e = one_error("[internal]\nmail_domains = [\"@corp\"]\n");
    assert!(e.ends_with("internal.mail_domains: invalid value `@corp`: expected a domain such as example.co.jp or *.example.co.jp"), "{e}");
}

#[test]
fn column_counts_characters_not_bytes() {
    let e = one_error("[[rule]]\nid = \"r\"\ndescription = \"極秘\"; action = \"x\"\n");
    // The syntax error comes after two 3-byte characters: the column must count them as one each.
    assert!(e.starts_with(&format!("p.toml:{}:", L + 2)), "{e}");
    let col: usize = e.split(':').nth(2).unwrap().parse().unwrap();
    assert!(col <= 20, "column {col} counts bytes: {e}");
}

// ----- classification --------------------------------------------------------------------------

fn finding(detector: &str, category: Category, confidence: Confidence, count: u32) -> Finding {
    Finding {
        count,
        ..Finding::new(detector, category, confidence)
    }
}

fn level_of(policy: &Policy, input: &ClassifyInput<'_>) -> String {
    policy.level(policy.classify(input).level).id.clone()
}

#[test]
fn nothing_gives_the_default_level() {
    let policy = Policy::default_policy();
    let c = policy.classify(&ClassifyInput::default());
    assert_eq!(c.level, policy.default_level());
    assert_eq!(
        c.reasons,
        [Why::Default {
            level: policy.default_level()
        }]
    );
    assert_eq!(
        policy.explain(&c.reasons[0]).en,
        "no rule applies: the default level, Public"
    );
}

#[test]
fn findings_rules_count_and_confidence() {
    let policy = Policy::default_policy();
    let my_numbers = |count, confidence| {
        [finding(
            "jp.my_number",
            Category::PersonalId,
            confidence,
            count,
        )]
    };
    let level = |f: &[Finding]| {
        level_of(
            &policy,
            &ClassifyInput {
                findings: f,
                ..Default::default()
            },
        )
    };
    assert_eq!(level(&my_numbers(1, Confidence::Medium)), "internal");
    assert_eq!(level(&my_numbers(9, Confidence::High)), "internal");
    assert_eq!(level(&my_numbers(10, Confidence::Medium)), "secret");
    assert_eq!(level(&my_numbers(10, Confidence::Low)), "public");
    // Counts add up across findings (locations) of the same detector.
    let split = [
        finding("jp.my_number", Category::PersonalId, Confidence::High, 6),
        finding("jp.my_number", Category::PersonalId, Confidence::Medium, 4),
    ];
    assert_eq!(level(&split), "secret");
    assert_eq!(
        level(&[finding(
            "label.gokuhi",
            Category::Label,
            Confidence::High,
            1
        )]),
        "top_secret"
    );
    assert_eq!(
        level(&[finding(
            "label.shagaihi",
            Category::Label,
            Confidence::High,
            1
        )]),
        "internal"
    );
    assert_eq!(
        level(&[finding(
            "secret.aws_access_key",
            Category::Credential,
            Confidence::High,
            1
        )]),
        "secret"
    );
}

#[test]
fn highest_level_wins_and_its_reasons_come_first() {
    let policy = Policy::default_policy();
    let findings = [
        finding("label.shagaihi", Category::Label, Confidence::High, 1),
        finding("label.gokuhi", Category::Label, Confidence::High, 1),
    ];
    let c = policy.classify(&ClassifyInput {
        findings: &findings,
        path: Some(Path::new("/srv/rd/plan.docx")),
        ..Default::default()
    });
    assert_eq!(policy.level(c.level).id, "top_secret");
    assert_eq!(c.reasons[0].rule(), Some("label-top-secret"));
    let rules: Vec<_> = c.reasons.iter().filter_map(Why::rule).collect();
    assert_eq!(rules, ["label-top-secret", "label-internal", "rd-tree"]);
    let why = policy.explain(&c.reasons[0]);
    assert_eq!(
        why.en,
        "1 finding(s) (label.gokuhi) make it Top secret (rule label-top-secret)"
    );
    assert_eq!(
        why.ja,
        "検出 1 件 (label.gokuhi) により「極秘」 (rule label-top-secret)"
    );
}

#[test]
fn path_rules_use_globs() {
    let policy = Policy::default_policy();
    let at = |p: &str| {
        level_of(
            &policy,
            &ClassifyInput {
                path: Some(Path::new(p)),
                ..Default::default()
            },
        )
    };
    assert_eq!(at("/srv/rd/a/b/c.step"), "secret");
    assert_eq!(at("/srv/rd/x"), "secret");
    assert_eq!(at("/srv/rdx/x"), "public");
    assert_eq!(at("/home/u/srv/rd/x"), "public");
    let c = policy.classify(&ClassifyInput {
        path: Some(Path::new("/srv/rd/x")),
        ..Default::default()
    });
    assert_eq!(
        policy.explain(&c.reasons[0]).en,
        "its path matches /srv/rd/**: Secret (rule rd-tree)"
    );
}

#[test]
fn labels_and_unknown_labels() {
    let policy = Policy::default_policy();
    let label = |l| {
        level_of(
            &policy,
            &ClassifyInput {
                explicit_label: Some(l),
                ..Default::default()
            },
        )
    };
    assert_eq!(label("internal"), "internal");
    assert_eq!(label(" secret\n"), "secret");
    // A label this policy does not know was still put there to protect the file.
    assert_eq!(label("kimitsu"), "top_secret");
    // A label can raise but never lower: findings still count.
    let findings = [finding(
        "label.gokuhi",
        Category::Label,
        Confidence::High,
        1,
    )];
    let c = policy.classify(&ClassifyInput {
        findings: &findings,
        explicit_label: Some("public"),
        ..Default::default()
    });
    assert_eq!(policy.level(c.level).id, "top_secret");
}

#[test]
fn fingerprints_give_their_registered_level() {
    let policy = Policy::default_policy();
    let mut f = Finding::new(
        "fingerprint.document",
        Category::Fingerprint,
        Confidence::High,
    );
    f.document = Some(DocumentMatch {
        document: "新製品計画.docx".into(),
        level: "secret".into(),
        containment: 0.25,
        coverage: 0.9,
    });
    let c = policy.classify(&ClassifyInput {
        findings: std::slice::from_ref(&f),
        ..Default::default()
    });
    assert_eq!(policy.level(c.level).id, "secret");
    assert_eq!(
        policy.explain(&c.reasons[0]).ja,
        "登録文書「新製品計画.docx」(secret) の内容を 25% 含むため「秘」"
    );
    f.document.as_mut().unwrap().level = "gokuhi".into();
    let c = policy.classify(&ClassifyInput {
        findings: std::slice::from_ref(&f),
        ..Default::default()
    });
    assert_eq!(c.level, policy.highest_level());
}

#[test]
fn uninspectable_content_gets_the_policys_level() {
    let policy = Policy::default_policy();
    let part = |reason| Uninspectable {
        location: Location::root().child("a.zip"),
        reason,
    };
    let level = |u: &[Uninspectable]| {
        level_of(
            &policy,
            &ClassifyInput {
                uninspectable: u,
                ..Default::default()
            },
        )
    };
    assert_eq!(level(&[part(UninspectableReason::Encrypted)]), "secret");
    assert_eq!(level(&[part(UninspectableReason::TooDeep)]), "internal");
    assert_eq!(
        level(&[part(UninspectableReason::Corrupt("x".into()))]),
        "internal"
    );
    assert_eq!(level(&[]), "public");
    let c = policy.classify(&ClassifyInput {
        uninspectable: &[part(UninspectableReason::Encrypted)],
        ..Default::default()
    });
    assert_eq!(
        policy.explain(&c.reasons[0]).en,
        "it has content that cannot be inspected (encrypted): Secret (rule encrypted-content)"
    );
}

// ----- decisions -------------------------------------------------------------------------------

fn decide(
    policy: &Policy,
    level: &str,
    channel: Channel,
    principal: &Principal,
    dest: &Destination,
) -> mamori_model::Decision {
    let level = policy
        .level_id(level)
        .unwrap_or_else(|| panic!("no level {level}"));
    policy.decide(&DecideInput {
        level,
        channel,
        principal,
        destination: dest,
    })
}

fn dest(channel: Channel, text: &str) -> Destination {
    if text.is_empty() {
        Destination::Unknown
    } else {
        Destination::parse(channel, text).unwrap()
    }
}

/// The default policy over every level × channel, with typical destinations.
#[test]
fn default_policy_table() {
    use Action::*;
    use Channel::*;
    let policy = Policy::default_policy();
    let tanaka = Principal::new("tanaka").with_groups(["staff"]);
    #[rustfmt::skip]
    let table: &[(&str, Channel, &str, Action, &str)] = &[
        // level,      channel,        destination,              action,  deciding rule
        ("top_secret", FileAccess,     "",                       Audit,   ""),
        ("top_secret", LocalCopy,      "",                       Audit,   ""),
        ("top_secret", RemovableMedia, "0951:1666:SN",           Block,   "top-secret-never-leaves"),
        ("top_secret", NetworkShare,   "/mnt/share/x",           Block,   "top-secret-never-leaves"),
        ("top_secret", Print,          "floor3",                 Block,   "top-secret-never-leaves"),
        ("top_secret", WebUpload,      "https://example.co.jp/", Block,   "top-secret-never-leaves"),
        ("top_secret", Mail,           "boss@example.co.jp",     Block,   "top-secret-never-leaves"),
        ("secret",     FileAccess,     "",                       Audit,   ""),
        ("secret",     LocalCopy,      "",                       Audit,   ""),
        ("secret",     RemovableMedia, "0781:5581:SN",           Block,   "usb-secret"),
        ("secret",     RemovableMedia, "0951:1666:SN",           Encrypt, "usb-secret-approved"),
        ("secret",     RemovableMedia, "",                       Block,   "usb-secret"),
        ("secret",     NetworkShare,   "/mnt/share/x",           Block,   "secret-no-upload-or-share"),
        ("secret",     Print,          "floor3",                 Justify, "print-secret"),
        ("secret",     WebUpload,      "https://box.com/up",     Block,   "secret-no-upload-or-share"),
        ("secret",     Mail,           "boss@example.co.jp",     Audit,   ""),
        ("secret",     Mail,           "a@sub.example.co.jp",    Audit,   ""),
        ("secret",     Mail,           "x@gmail.com",            Block,   "mail-secret-external"),
        ("secret",     Mail,           "boss@example.co.jp,x@gmail.com", Block, "mail-secret-external"),
        ("secret",     Mail,           "",                       Block,   "mail-secret-external"),
        ("internal",   FileAccess,     "",                       Audit,   ""),
        ("internal",   RemovableMedia, "0951:1666:SN",           Encrypt, "usb-internal"),
        ("internal",   RemovableMedia, "0781:5581",              Encrypt, "usb-internal"),
        ("internal",   NetworkShare,   "/mnt/share/x",           Audit,   ""),
        ("internal",   Print,          "floor3",                 Audit,   ""),
        ("internal",   WebUpload,      "https://box.com/up",     Notify,  "upload-internal"),
        ("internal",   Mail,           "boss@example.co.jp",     Audit,   ""),
        ("internal",   Mail,           "x@example.com",          Notify,  "mail-internal-external"),
        ("public",     FileAccess,     "",                       Allow,   "public-allow"),
        ("public",     LocalCopy,      "",                       Allow,   "public-allow"),
        ("public",     RemovableMedia, "0781:5581",              Audit,   ""),
        ("public",     Print,          "floor3",                 Audit,   ""),
        ("public",     WebUpload,      "https://box.com/up",     Audit,   ""),
        ("public",     Mail,           "x@gmail.com",            Audit,   ""),
    ];
    for &(level, channel, destination, action, rule) in table {
        let d = decide(
            &policy,
            level,
            channel,
            &tanaka,
            &dest(channel, destination),
        );
        assert_eq!(
            (d.action, d.rules.first().map_or("", String::as_str)),
            (action, rule),
            "{level} {channel} {destination}: {d:?}"
        );
        assert_eq!(d.level, level);
        assert!(
            d.reason
                .ja
                .contains(&policy.level(policy.level_id(level).unwrap()).ja)
        );
        if rule.is_empty() {
            assert!(d.reason.en.ends_with("(default)"), "{d:?}");
        } else {
            assert!(d.reason.en.ends_with(&format!("(rule {rule})")), "{d:?}");
        }
    }
}

#[test]
fn every_matching_rule_is_listed_deciding_first() {
    let policy = Policy::default_policy();
    let d = decide(
        &policy,
        "secret",
        Channel::RemovableMedia,
        &Principal::new("u"),
        &dest(Channel::RemovableMedia, "0951:1666"),
    );
    assert_eq!(d.rules, ["usb-secret-approved", "usb-secret"]);
    assert_eq!(
        d.reason.en,
        "Secret files may be copied to removable media (USB) only once encrypted (rule usb-secret-approved)"
    );
}

const PRINCIPALS: &str = r#"
[internal]
mail_domains = ["corp.example"]
[[rule]]
id = "rd-print"
groups = ["rd"]
channels = ["print"]
action = "block"
[[rule]]
id = "rd-print-lead"
users = ["sato"]
channels = ["print"]
action = "justify"
exception = true
[[rule]]
id = "share-hr"
levels = ["secret"]
shares = ["/mnt/hr/**"]
except_groups = ["hr"]
action = "block"
[[rule]]
id = "upload-partner"
levels = ["secret"]
url_domains = ["partner.example"]
urls = ["https://*/upload/**"]
action = "notify"
exception = true
[[rule]]
id = "upload-secret"
levels = ["secret"]
channels = ["web_upload"]
action = "block"
[[rule]]
id = "printer-secure"
printers = ["SECURE-*"]
action = "allow"
exception = true
[[rule]]
id = "mail-partner"
mail_domains = ["partner.example"]
action = "quarantine"
"#;

#[test]
fn principals_and_destinations_table() {
    use Action::*;
    use Channel::*;
    let policy = load(PRINCIPALS);
    let alice = Principal::new("alice").with_groups(["rd"]);
    let sato = Principal::new("sato").with_groups(["rd"]);
    let hana = Principal::new("hana").with_groups(["hr"]);
    let bob = Principal::new("bob");
    #[rustfmt::skip]
    let table: &[(&str, &Principal, Channel, &str, Action, &str)] = &[
        ("public", &alice, Print,        "floor1",                            Block,      "rd-print"),
        ("public", &bob,   Print,        "floor1",                            Audit,      ""),
        ("public", &sato,  Print,        "floor1",                            Justify,    "rd-print-lead"),
        ("public", &alice, Print,        "secure-3f",                         Allow,      "printer-secure"),
        ("public", &alice, Print,        "",                                  Block,      "rd-print"),
        ("secret", &alice, NetworkShare, "/mnt/hr/salaries.xlsx",             Block,      "share-hr"),
        ("secret", &hana,  NetworkShare, "/mnt/hr/salaries.xlsx",             Audit,      ""),
        ("secret", &alice, NetworkShare, "/mnt/sales/x",                      Audit,      ""),
        ("public", &alice, NetworkShare, "/mnt/hr/x",                         Audit,      ""),
        ("secret", &bob,   WebUpload,    "https://files.partner.example/upload/a", Notify, "upload-partner"),
        ("secret", &bob,   WebUpload,    "https://files.partner.example/other",   Block,  "upload-secret"),
        ("secret", &bob,   WebUpload,    "https://evil.example/upload/a",         Block,  "upload-secret"),
        ("secret", &bob,   WebUpload,    "",                                      Block,  "upload-secret"),
        ("public", &bob,   Mail,         "a@partner.example",                 Quarantine, "mail-partner"),
        ("public", &bob,   Mail,         "a@x.partner.example",               Quarantine, "mail-partner"),
        ("public", &bob,   Mail,         "a@notpartner.example",              Audit,      ""),
        ("public", &bob,   Mail,         "a@corp.example,b@partner.example",  Quarantine, "mail-partner"),
    ];
    for &(level, who, channel, destination, action, rule) in table {
        let d = decide(&policy, level, channel, who, &dest(channel, destination));
        assert_eq!(
            (d.action, d.rules.first().map_or("", String::as_str)),
            (action, rule),
            "{level} {} {channel} {destination}: {d:?}",
            who.user
        );
    }
}

#[test]
fn final_rules_resist_exceptions_and_ties_go_to_the_smallest_id() {
    let policy = load(
        "[[rule]]\nid = \"z-final\"\naction = \"encrypt\"\nfinal = true\n\
         [[rule]]\nid = \"b-exc\"\naction = \"allow\"\nexception = true\n\
         [[rule]]\nid = \"a-block\"\naction = \"block\"\n\
         [[rule]]\nid = \"c-block\"\naction = \"block\"\n",
    );
    let d = decide(
        &policy,
        "public",
        Channel::Mail,
        &Principal::new("u"),
        &Destination::Unknown,
    );
    // The exception sets both blocks aside, but cannot go below the final rule.
    assert_eq!(d.action, Action::Encrypt);
    assert_eq!(d.rules, ["z-final", "b-exc", "a-block", "c-block"]);
    let policy = load(
        "[[rule]]\nid = \"c\"\naction = \"block\"\n[[rule]]\nid = \"a\"\naction = \"block\"\n",
    );
    let d = decide(
        &policy,
        "public",
        Channel::Mail,
        &Principal::new("u"),
        &Destination::Unknown,
    );
    assert_eq!(d.rules, ["a", "c"]);
}

#[test]
fn custom_messages_and_min_level() {
    let policy = load(
        "[[rule]]\nid = \"r\"\nmin_level = \"secret\"\nchannels = [\"mail\"]\naction = \"block\"\n\
         message = { ja = \"{level}はメール禁止\", en = \"no mail for {level}\" }\n",
    );
    let d = decide(
        &policy,
        "secret",
        Channel::Mail,
        &Principal::new("u"),
        &Destination::Unknown,
    );
    assert_eq!(d.reason.ja, "秘はメール禁止 (rule r)");
    assert_eq!(d.reason.en, "no mail for Secret (rule r)");
    let d = decide(
        &policy,
        "public",
        Channel::Mail,
        &Principal::new("u"),
        &Destination::Unknown,
    );
    assert_eq!(d.action, Action::Audit);
}

// ----- properties ------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    const LEVELS: [&str; 3] = ["high", "mid", "low"];
    const USERS: [&str; 3] = ["alice", "bob", "carol"];
    const GROUPS: [&str; 2] = ["rd", "hr"];

    #[derive(Debug, Clone)]
    struct GenRule {
        kind: u8,
        action: Action,
        levels: Vec<bool>,
        channels: Vec<bool>,
        users: Vec<bool>,
        groups: Vec<bool>,
        except_user: Option<usize>,
        destination: u8,
    }

    fn action() -> impl Strategy<Value = Action> {
        (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
    }

    fn rule() -> impl Strategy<Value = GenRule> {
        (
            0u8..3,
            action(),
            proptest::collection::vec(any::<bool>(), 3),
            proptest::collection::vec(any::<bool>(), 7),
            proptest::collection::vec(any::<bool>(), 3),
            proptest::collection::vec(any::<bool>(), 2),
            proptest::option::of(0usize..3),
            0u8..6,
        )
            .prop_map(
                |(kind, action, levels, channels, users, groups, except_user, destination)| {
                    GenRule {
                        kind,
                        action,
                        levels,
                        channels,
                        users,
                        groups,
                        except_user,
                        destination,
                    }
                },
            )
    }

    fn toml_list(names: &[&str], on: &[bool]) -> String {
        let chosen: Vec<String> = names
            .iter()
            .zip(on)
            .filter(|(_, on)| **on)
            .map(|(n, _)| format!("\"{n}\""))
            .collect();
        format!("[{}]", chosen.join(", "))
    }

    fn render(rules: &[(String, GenRule)]) -> String {
        let mut text =
            String::from("[policy]\nversion = 1\n[internal]\nmail_domains = [\"corp.example\"]\n");
        for (id, ja) in [("high", "高"), ("mid", "中"), ("low", "低")] {
            text.push_str(&format!(
                "[[level]]\nid = \"{id}\"\nja = \"{ja}\"\nen = \"{id}\"\n"
            ));
        }
        let channel_names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        for (id, r) in rules {
            text.push_str(&format!(
                "[[rule]]\nid = \"{id}\"\naction = \"{}\"\n",
                r.action
            ));
            match r.kind {
                1 => text.push_str("exception = true\n"),
                2 => text.push_str("final = true\n"),
                _ => {}
            }
            if r.levels.contains(&true) {
                text.push_str(&format!("levels = {}\n", toml_list(&LEVELS, &r.levels)));
            }
            let destination = match r.destination {
                1 => Some("usb = [\"0781:*\"]\n"),
                2 => Some("mail_to = \"external\"\n"),
                3 => Some("mail_domains = [\"partner.example\"]\n"),
                4 => Some("printers = [\"secure-*\"]\n"),
                _ => None,
            };
            match destination {
                Some(d) => text.push_str(d),
                None if r.channels.contains(&true) => text.push_str(&format!(
                    "channels = {}\n",
                    toml_list(&channel_names, &r.channels)
                )),
                None => {}
            }
            if r.users.contains(&true) {
                text.push_str(&format!("users = {}\n", toml_list(&USERS, &r.users)));
            }
            if r.groups.contains(&true) {
                text.push_str(&format!("groups = {}\n", toml_list(&GROUPS, &r.groups)));
            }
            if let Some(u) = r.except_user {
                let users_only = !r.groups.contains(&true)
                    && r.users.iter().enumerate().all(|(i, on)| !on || i == u);
                if !users_only {
                    text.push_str(&format!("except_users = [\"{}\"]\n", USERS[u]));
                }
            }
        }
        text
    }

    #[derive(Debug, Clone)]
    struct Query {
        level: usize,
        channel: Channel,
        user: usize,
        destination: usize,
    }

    fn query() -> impl Strategy<Value = Query> {
        (0usize..3, 0usize..7, 0usize..3, 0usize..5).prop_map(
            |(level, channel, user, destination)| Query {
                level,
                channel: Channel::ALL[channel],
                user,
                destination,
            },
        )
    }

    fn verdict_of(policy: &Policy, q: &Query) -> Verdict {
        with_input(policy, q, |p, input| p.verdict(input))
    }

    fn ask(policy: &Policy, q: &Query) -> mamori_model::Decision {
        with_input(policy, q, |p, input| p.decide(input))
    }

    fn with_input<T>(policy: &Policy, q: &Query, f: impl Fn(&Policy, &DecideInput<'_>) -> T) -> T {
        let principal = Principal::new(USERS[q.user]).with_groups(match q.user {
            0 => vec!["rd"],
            1 => vec!["hr", "rd"],
            _ => vec![],
        });
        let destination = match (q.channel, q.destination) {
            (_, 0) => Destination::Unknown,
            (Channel::RemovableMedia, d) => Destination::parse(
                q.channel,
                if d % 2 == 0 {
                    "0781:5581"
                } else {
                    "1234:0001:S"
                },
            )
            .unwrap(),
            (Channel::Mail, 1) => Destination::parse(q.channel, "a@corp.example").unwrap(),
            (Channel::Mail, 2) => Destination::parse(q.channel, "a@partner.example").unwrap(),
            (Channel::Mail, 3) => {
                Destination::parse(q.channel, "a@corp.example,b@gmail.com").unwrap()
            }
            (Channel::Mail, _) => Destination::parse(q.channel, "x@gmail.com").unwrap(),
            (Channel::Print, d) => {
                Destination::Printer(if d % 2 == 0 { "secure-1" } else { "open-1" }.into())
            }
            (Channel::WebUpload, _) => Destination::Url("https://box.example/x".into()),
            (Channel::NetworkShare, _) => Destination::Share("/mnt/x".into()),
            _ => Destination::Unknown,
        };
        let level = policy.level_id(LEVELS[q.level]).unwrap();
        f(
            policy,
            &DecideInput {
                level,
                channel: q.channel,
                principal: &principal,
                destination: &destination,
            },
        )
    }

    fn named(rules: Vec<GenRule>) -> Vec<(String, GenRule)> {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| (format!("r{i:03}"), r))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Generated policies always load: the generator writes only reachable rules.
        #[test]
        fn adding_a_block_rule_never_relaxes(rules in proptest::collection::vec(rule(), 0..12), extra in rule(), queries in proptest::collection::vec(query(), 1..16)) {
            let rules = named(rules);
            let before = Policy::from_toml(&render(&rules), "gen.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut with_block = rules.clone();
            with_block.push(("zz-block".into(), GenRule { action: Action::Block, ..extra }));
            let after = Policy::from_toml(&render(&with_block), "gen.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            for q in &queries {
                let (a, b) = (ask(&before, q), ask(&after, q));
                prop_assert!(b.action >= a.action, "{q:?}: {a:?} -> {b:?}");
            }
        }

        #[test]
        fn rule_order_does_not_matter(rules in proptest::collection::vec(rule(), 1..12), seed in any::<u64>(), queries in proptest::collection::vec(query(), 1..16)) {
            let rules = named(rules);
            let mut shuffled = rules.clone();
            // A Fisher-Yates shuffle driven by the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let a = Policy::from_toml(&render(&rules), "gen.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = Policy::from_toml(&render(&shuffled), "gen.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            for q in &queries {
                let (x, y) = (ask(&a, q), ask(&b, q));
                prop_assert_eq!(x.action, y.action);
                prop_assert_eq!(x.rules.first(), y.rules.first());
                prop_assert_eq!(&x.reason, &y.reason);
                let (mut xs, mut ys) = (x.rules.clone(), y.rules.clone());
                xs.sort();
                ys.sort();
                prop_assert_eq!(xs, ys);
            }
        }

        /// `verdict` is `decide` without the text.
        #[test]
        fn verdict_agrees_with_decide(rules in proptest::collection::vec(rule(), 0..12), queries in proptest::collection::vec(query(), 1..16)) {
            let policy = Policy::from_toml(&render(&named(rules)), "gen.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            for q in &queries {
                let d = ask(&policy, q);
                let v = verdict_of(&policy, q);
                prop_assert_eq!(v.action, d.action);
                prop_assert_eq!(v.rule.map(|i| policy.rules()[i].id().to_owned()), d.rules.first().cloned());
                // Matched rules are listed once each, the deciding one first.
                let mut ids = d.rules.clone();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), d.rules.len());
            }
        }

        /// The loader never panics, whatever the text.
        #[test]
        fn loader_never_panics(text in "\\PC{0,300}") {
            let _ = Policy::from_toml(&text, "fuzz.toml");
        }

        /// Errors always point inside the text.
        #[test]
        fn error_positions_are_inside_the_text(cut in 0usize..2000) {
            let text = crate::DEFAULT_POLICY_TOML;
            let mut end = cut.min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            if let Err(errors) = Policy::from_toml(&text[..end], "cut.toml") {
                let lines = text[..end].lines().count().max(1);
                for e in errors.errors() {
                    prop_assert!(e.line >= 1 && e.line <= lines + 1, "{e}");
                    prop_assert!(e.column >= 1);
                }
            }
        }
    }
}

//! `mamori policy`: print, check, explain, and sign policies.

use std::ffi::CString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mamori_model::Channel;
use mamori_policy::signing::{PublicKey, SecretKey, SignatureError};
use mamori_policy::{
    Classification, ClassifyInput, DecideInput, Destination, GroupError, GroupResolver,
    MAX_POLICY_BYTES, Policy, Principal,
};

/// Arguments of `mamori policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// Print the commented default policy / 既定のポリシーを表示する
    Default,
    /// Check a policy file: exit 0, or 2 listing every error as file:line:column / ポリシーを検査する
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Explain the level of a file and the decision for a channel / 判定の理由を説明する
    Explain(ExplainArgs),
    /// Create an Ed25519 key pair for signing policies / 署名用の鍵を作る
    Keygen {
        /// Where to write the secret key (created with mode 0600).
        #[arg(long, value_name = "FILE")]
        secret_key: PathBuf,
        /// Where to write the public key.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Sign a policy file; writes FILE.sig / ポリシーに署名する
    Sign {
        /// The policy file.
        file: PathBuf,
        /// The secret key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the signature [default: FILE.sig].
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify a policy's signature: exit 0, or 1 naming why it is bad / 署名を検証する
    Verify {
        /// The policy file.
        file: PathBuf,
        /// The trusted public key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The signature file [default: FILE.sig].
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
    },
}

/// Output formats of `mamori policy explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct ExplainArgs {
    /// The policy file [default: the built-in default policy].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The file to classify.
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
    /// The channel: file_access, local_copy, removable_media, network_share, print, web_upload, mail.
    #[arg(long, value_name = "CHANNEL", value_parser = parse_channel)]
    channel: Channel,
    /// The user [default: the current user]. Groups come from the system (NSS).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// An extra group of the user (repeatable), e.g. for a user not known on this host.
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// The destination: VENDOR:PRODUCT[:SERIAL] (removable_media), addresses (mail), a URL
    /// (web_upload), a printer (print) or a path (network_share).
    #[arg(long, value_name = "DEST")]
    destination: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

fn parse_channel(text: &str) -> Result<Channel, String> {
    Channel::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        format!(
            "unknown channel `{text}`; expected one of: {}",
            names.join(", ")
        )
    })
}

/// Runs `mamori policy`.
pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Default => {
            std::io::stdout().write_all(mamori_policy::DEFAULT_POLICY_TOML.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check { file } => check(&file),
        PolicyCommand::Explain(args) => explain(args),
        PolicyCommand::Keygen {
            secret_key,
            public_key,
        } => keygen(&secret_key, &public_key),
        PolicyCommand::Sign { file, key, output } => sign(&file, &key, output),
        PolicyCommand::Verify {
            file,
            key,
            signature,
        } => verify(&file, &key, signature),
    }
}

fn read_policy_text(path: &Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        bail!(
            "{}: a policy may not exceed {MAX_POLICY_BYTES} bytes",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses a policy, checking detector ids against the inspection engine: an id in one of the
/// built-in namespaces (`label.`, `jp.`, `financial.`, `contact.`, `secret.`) must name a
/// built-in detector, so a typo such as `label.gokuhii` is an error; `fingerprint.document`
/// and `edm.<table>` come from registered documents and tables; any other namespace belongs to
/// the user's rules files (`keyword.project_x`, `custom.employee_id`) and is accepted.
pub fn parse_policy(text: &str, origin: &str) -> Result<Policy, mamori_policy::PolicyErrors> {
    let builtin: std::collections::HashSet<String> = mamori_inspect::Rules::builtin()
        .detectors()
        .map(|d| d.id)
        .collect();
    let known = |id: &str| is_known_detector(&builtin, id);
    Policy::from_toml_with(
        text,
        origin,
        &mamori_policy::LoadOptions {
            known_detector: Some(&known),
        },
    )
}

fn is_known_detector(builtin: &std::collections::HashSet<String>, id: &str) -> bool {
    const BUILTIN_NAMESPACES: [&str; 5] = ["label.", "jp.", "financial.", "contact.", "secret."];
    if builtin.contains(id) || id == "fingerprint.document" || id.starts_with("edm.") {
        return true;
    }
    !BUILTIN_NAMESPACES.iter().any(|ns| id.starts_with(ns))
}

/// Loads the policy at `path`, or the built-in default policy. Every error is in the message.
pub fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default_policy());
    };
    let text = read_policy_text(path)?;
    parse_policy(&text, &path.display().to_string())
        .map_err(|errors| anyhow::anyhow!("invalid policy:\n{errors}"))
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let text = read_policy_text(path)?;
    let origin = path.display().to_string();
    match parse_policy(&text, &origin) {
        Ok(policy) => {
            println!(
                "{origin}: ok: \"{}\" version {}: {} levels, {} classification rules, {} decision rules / 問題はありません",
                policy.name(),
                policy.version(),
                policy.levels().len(),
                policy.classify_rules().len(),
                policy.rules().len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            // Messages follow the locale (LC_ALL, LC_MESSAGES, LANG): Japanese for `ja*`.
            let lang = ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
                .unwrap_or_default();
            let mut stderr = std::io::stderr().lock();
            for error in errors.errors() {
                writeln!(stderr, "{}", error.to_string_for_lang(&lang))?;
            }
            writeln!(
                stderr,
                "{origin}: {} error(s) / {} 件のエラー",
                errors.len(),
                errors.len()
            )?;
            Ok(ExitCode::from(2))
        }
    }
}

/// Group lookup through the system's NSS (`/etc/group`, LDAP, SSSD...), as `id USER` does.
pub(crate) struct NssGroups;

impl GroupResolver for NssGroups {
    fn groups_of(&self, user: &str) -> Result<Vec<String>, GroupError> {
        let lookup = |reason: String| GroupError::Lookup {
            user: user.to_owned(),
            reason,
        };
        let account = nix::unistd::User::from_name(user)
            .map_err(|e| lookup(e.to_string()))?
            .ok_or_else(|| GroupError::UnknownUser(user.to_owned()))?;
        let name = CString::new(user).map_err(|e| lookup(e.to_string()))?;
        let gids =
            nix::unistd::getgrouplist(&name, account.gid).map_err(|e| lookup(e.to_string()))?;
        let mut groups = Vec::with_capacity(gids.len());
        for gid in gids {
            match nix::unistd::Group::from_gid(gid) {
                Ok(Some(group)) => groups.push(group.name),
                _ => groups.push(gid.to_string()),
            }
        }
        groups.sort();
        groups.dedup();
        Ok(groups)
    }
}

fn current_user() -> anyhow::Result<(String, u32)> {
    let uid = nix::unistd::geteuid();
    let user = nix::unistd::User::from_uid(uid)
        .context("cannot look up the current user")?
        .map_or_else(|| uid.to_string(), |u| u.name);
    Ok((user, uid.as_raw()))
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_deref())?;
    let shown = args.file.display().to_string();
    let path = std::fs::canonicalize(&args.file).with_context(|| format!("cannot open {shown}"))?;

    // Classify.
    let inspector = mamori_inspect::InspectorBuilder::new().build()?;
    let mut file = std::fs::File::open(&path).with_context(|| format!("cannot open {shown}"))?;
    let len = file.metadata()?.len();
    let report = inspector
        .inspect_reader(&mut file, len)
        .with_context(|| format!("cannot inspect {shown}"))?;
    let (classification, label) = classify_file(&policy, &path, &report)?;

    // Decide.
    let mut principal = match &args.user {
        Some(user) => {
            let uid = nix::unistd::User::from_name(user)
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw());
            Principal {
                uid,
                ..Principal::new(user.clone())
            }
        }
        None => {
            let (user, uid) = current_user()?;
            Principal::new(user).with_uid(uid)
        }
    };
    match NssGroups.groups_of(&principal.user) {
        Ok(groups) => principal.groups = groups,
        Err(GroupError::UnknownUser(_)) if !args.groups.is_empty() => {}
        Err(e) => eprintln!("mamori: warning: {e}; deciding with no groups"),
    }
    principal.groups.extend(args.groups.iter().cloned());
    let destination = match &args.destination {
        Some(text) => Destination::parse(args.channel, text)?,
        None => Destination::Unknown,
    };
    let decision = policy.decide(&DecideInput {
        level: classification.level,
        channel: args.channel,
        principal: &principal,
        destination: &destination,
    });

    let level = policy.level(classification.level);
    if args.format == Format::Json {
        let classified_by: Vec<serde_json::Value> = classification
            .reasons
            .iter()
            .map(|why| {
                let text = policy.explain(why);
                serde_json::json!({
                    "kind": why.kind(),
                    "rule": why.rule(),
                    "level": policy.level(why.level()).id,
                    "reason": { "ja": text.ja, "en": text.en },
                })
            })
            .collect();
        let matched: Vec<serde_json::Value> = decision
            .rules
            .iter()
            .filter_map(|id| policy.rule(id))
            .map(|rule| {
                serde_json::json!({
                    "id": rule.id(),
                    "kind": rule.kind().as_str(),
                    "action": rule.action(),
                    "line": rule.line(),
                    "description": rule.description(),
                })
            })
            .collect();
        let json = serde_json::json!({
            "file": shown,
            "level": decision.level,
            "level_name": { "ja": level.ja, "en": level.en },
            "classified_by": classified_by,
            "label": label,
            "channel": args.channel,
            "user": principal.user,
            "groups": principal.groups,
            "destination": (destination != Destination::Unknown).then(|| destination.to_string()),
            "action": decision.action,
            "rules": decision.rules,
            "matched_rules": matched,
            "reason": decision.reason,
            "findings": report.findings,
            "uninspectable": report.uninspectable,
            "policy": { "name": policy.name(), "version": policy.version() },
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = std::io::stdout().lock();
    writeln!(out, "file / ファイル:        {shown}")?;
    writeln!(
        out,
        "level / レベル:         {} ({} / {})",
        level.id, level.ja, level.en
    )?;
    for why in &classification.reasons {
        let text = policy.explain(why);
        writeln!(out, "  - {}", text.ja)?;
        writeln!(out, "    {}", text.en)?;
    }
    writeln!(out, "channel / 経路:         {}", args.channel)?;
    if destination != Destination::Unknown {
        writeln!(out, "destination / 宛先:     {destination}")?;
    }
    writeln!(
        out,
        "user / ユーザー:        {} (groups: {})",
        principal.user,
        principal.groups.join(", ")
    )?;
    writeln!(out, "action / 動作:          {}", decision.action)?;
    writeln!(out, "reason / 理由:          {}", decision.reason.ja)?;
    writeln!(out, "                        {}", decision.reason.en)?;
    if decision.rules.is_empty() {
        writeln!(
            out,
            "rules / 規則:           (none: default action {})",
            policy.default_action()
        )?;
    } else {
        writeln!(out, "rules / 規則:")?;
        for (i, id) in decision.rules.iter().enumerate() {
            let Some(rule) = policy.rule(id) else {
                continue;
            };
            let mark = if i == 0 {
                "deciding / 決定"
            } else {
                "matched / 該当"
            };
            writeln!(
                out,
                "  - {id} ({}, {}, line {}) [{mark}]{}",
                rule.kind().as_str(),
                rule.action(),
                rule.line(),
                if rule.description().is_empty() {
                    String::new()
                } else {
                    format!(": {}", rule.description())
                }
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The level of an inspected file: from its findings, uninspectable parts, path and explicit
/// label (`user.mamori.level`). Returns the label too. `mamori scan --policy` calls this per file.
pub fn classify_file(
    policy: &Policy,
    path: &Path,
    report: &mamori_inspect::Report,
) -> anyhow::Result<(Classification, Option<String>)> {
    let label = super::label::read_label(path)?;
    let classification = policy.classify(&ClassifyInput {
        path: Some(path),
        findings: &report.findings,
        uninspectable: &report.uninspectable,
        explicit_label: label.as_deref(),
    });
    Ok((classification, label))
}

fn keygen(secret_path: &Path, public_path: &Path) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let secret = SecretKey::from_seed(seed);
    seed.fill(0);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(secret_path)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet)",
                secret_path.display()
            )
        })?;
    file.write_all(secret.to_file_text().as_bytes())?;
    std::fs::write(public_path, secret.public_key().to_file_text())
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    println!(
        "key {} written: secret {} (keep it on the management server), public {} / 鍵を作成しました",
        secret.public_key().fingerprint(),
        secret_path.display(),
        public_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn signature_path(file: &Path, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let mut name = file.as_os_str().to_owned();
        name.push(".sig");
        PathBuf::from(name)
    })
}

fn sign(file: &Path, key: &Path, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let secret = SecretKey::parse(&key_text).with_context(|| key.display().to_string())?;
    // Only a valid policy is worth signing.
    let text = read_policy_text(file)?;
    let policy = parse_policy(&text, &file.display().to_string())
        .map_err(|errors| anyhow::anyhow!("refusing to sign an invalid policy:\n{errors}"))?;
    let out = signature_path(file, output);
    std::fs::write(&out, secret.sign(text.as_bytes()))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "{}: version {} signed with key {}: {} / 署名しました",
        file.display(),
        policy.version(),
        secret.public_key().fingerprint(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(file: &Path, key: &Path, signature: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let key_text =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let public = PublicKey::parse(&key_text).with_context(|| key.display().to_string())?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let sig_path = signature_path(file, signature);
    let sig = match std::fs::read_to_string(&sig_path) {
        Ok(sig) => sig,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "{}: not signed: {} does not exist / 署名がありません",
                file.display(),
                sig_path.display()
            );
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", sig_path.display())),
    };
    match public.verify(&bytes, &sig) {
        Ok(()) => {
            println!(
                "{}: good signature by key {} / 署名は正しいです",
                file.display(),
                public.fingerprint()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (SignatureError::Mismatch | SignatureError::WrongKey { .. })) => {
            eprintln!("{}: bad signature: {e}", file.display());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!(
                "{}: bad signature: {}: {e}",
                file.display(),
                sig_path.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_names_only_real_detectors() {
        parse_policy(mamori_policy::DEFAULT_POLICY_TOML, "default").unwrap();
    }

    #[test]
    fn a_typo_in_a_builtin_namespace_is_an_error_but_user_namespaces_pass() {
        let policy = |id: &str| {
            mamori_policy::DEFAULT_POLICY_TOML.replace(
                r#"detectors = ["label.maruhi"]"#,
                &format!(r#"detectors = ["{id}"]"#),
            )
        };
        let err = parse_policy(&policy("label.hi"), "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("label.hi"), "{err}");
        parse_policy(&policy("keyword.project_sakura"), "p.toml").unwrap();
        parse_policy(&policy("edm.employees"), "p.toml").unwrap();
    }
}

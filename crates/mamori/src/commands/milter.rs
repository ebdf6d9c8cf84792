//! `mamori milter`: the mail gateway. Postfix or Sendmail hand every message over the milter
//! protocol (crate `mamori-milter`); this module is the policy side: inspect the whole message
//! (every MIME part and attachment, through the gateway's extractor), judge it on the `mail`
//! channel for its recipients, answer the MTA and record the decision.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mamori_gateway::{Gatekeeper, Judgement, Lang, Part};
use mamori_journal::{Item, Operation, Transfer};
use mamori_milter::{
    Config, Envelope, FailAction, Failure, Filter, Incomplete, Message, NoticeConfig, Outcome,
    PartKind, Reply, SenderNotice, Summary, Verdict,
};
use mamori_model::{Action, Channel, Location, Uninspectable, UninspectableReason};
use mamori_notify::{Admission, Throttle};
use mamori_policy::{Destination, GroupResolver as _, Principal};

use crate::commands::gateway::GatewayOptions;

/// The header lines the milter puts before each message it inspects (never into the MTA's copy),
/// so the extractor always reads it as a mail, whatever headers the sender put first.
const PREAMBLE: &[u8] = b"Received: by mamori milter (inspection copy)\r\nMIME-Version: 1.0\r\n";

/// Largest message parsed into parts in memory; larger ones are inspected whole from the spool.
const SPLIT_LIMIT: u64 = 64 << 20;

/// Parts (header text, bodies, attachments) inspected per message; the rest make the message
/// uninspectable (`too_many_entries`), the extractor's own entry limit.
const MAX_PARTS: usize = 10_000;

/// `mamori milter`.
#[derive(Debug, clap::Args)]
pub struct MilterArgs {
    /// Configuration file (TOML: listen, socket_mode, socket_group, decide_timeout,
    /// fail_action, memory_body, max_message, spool_dir) / 設定ファイル
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to listen, overriding the file: unix:/path/to.sock or inet:127.0.0.1:PORT /
    /// 待ち受けアドレス
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// When a message cannot be decided in time: tempfail (451 4.7.1), accept or reject /
    /// 判定できないときの応答
    #[arg(long, value_name = "ACTION")]
    pub fail_action: Option<String>,
    /// Seconds per message before fail_action answers / 1 通あたりの判定時間 (秒)
    #[arg(long, value_name = "SECS")]
    pub decide_timeout: Option<u64>,
    /// Group owning the Unix socket (e.g. postfix) / ソケットのグループ
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayOptions,
}

/// Runs the milter until SIGTERM or SIGINT; SIGHUP reloads the policy.
pub fn run(args: MilterArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Config::from_toml(&text, &path.display().to_string())?
        }
        None => Config::default(),
    };
    if let Some(listen) = &args.listen {
        config.listen = Some(listen.clone());
    }
    if let Some(action) = &args.fail_action {
        config.fail_action = action.parse()?;
    }
    if let Some(secs) = args.decide_timeout {
        anyhow::ensure!(
            (1..=3600).contains(&secs),
            "--decide-timeout must be 1 to 3600 seconds"
        );
        config.decide_timeout = secs;
    }
    let socket_group = args.socket_group.clone().or(config.socket_group.clone());
    let listen: mamori_milter::Listen = config
        .listen
        .as_deref()
        .context("no listen address: give --listen unix:/path or inet:127.0.0.1:PORT, or `listen` in the configuration file / 待ち受けアドレスがありません")?
        .parse()?;
    let gatekeeper = Arc::new(args.gateway.build()?);
    let filter = Arc::new(MailFilter {
        gatekeeper: gatekeeper.clone(),
        fail_action: config.fail_action,
        groups: config.sender_groups.then(SenderGroups::default),
        notices: config.notice.clone().map(Notices::new),
        decide_timeout: Duration::from_secs(config.decide_timeout),
    });
    let mut server_config = config.server_config();
    server_config.preamble = PREAMBLE.to_vec();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let reload = {
            let options = args.gateway.clone();
            let gatekeeper = gatekeeper.clone();
            async move {
                while hup.recv().await.is_some() {
                    match options.load_policy() {
                        Ok(policy) => {
                            gatekeeper.replace_policy(policy);
                            eprintln!("mamori milter: policy reloaded / ポリシーを再読み込みしました");
                        }
                        Err(e) => eprintln!(
                            "mamori milter: policy reload failed, keeping the old one / 再読み込みに失敗、以前のポリシーを継続: {e:#}"
                        ),
                    }
                }
            }
        };
        tokio::spawn(reload);
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        };
        let ready = {
            let listen = listen.clone();
            async move {
                if let mamori_milter::Listen::Unix(path) = &listen {
                    // Wait for the socket file, then hand it to the MTA's group.
                    for _ in 0..200 {
                        if path.exists() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if let Some(group) = &socket_group {
                        chown_group(path, group)?;
                    }
                }
                eprintln!("mamori milter: listening on {listen} / 待ち受け中");
                anyhow::Ok(())
            }
        };
        let serve = mamori_milter::serve(listen.clone(), filter, server_config, shutdown);
        let (served, ready) = tokio::join!(serve, ready);
        ready?;
        served?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn chown_group(path: &std::path::Path, group: &str) -> anyhow::Result<()> {
    let gid = nix::unistd::Group::from_name(group)
        .with_context(|| format!("cannot look up group {group}"))?
        .with_context(|| format!("no group {group} / グループ {group} がありません"))?
        .gid;
    std::os::unix::fs::chown(path, None, Some(gid.as_raw()))
        .with_context(|| format!("cannot give {} to group {group}", path.display()))?;
    Ok(())
}

/// The policy side of the milter.
struct MailFilter {
    gatekeeper: Arc<Gatekeeper>,
    fail_action: FailAction,
    /// The authenticated sender's groups, when looked up.
    groups: Option<SenderGroups>,
    /// Notices to senders, when configured.
    notices: Option<Notices>,
    /// The server's time limit per decision: a decision that took about that long may have
    /// been answered by the fail action already.
    decide_timeout: Duration,
}

/// The groups of SMTP-authenticated senders, from the system's NSS (as `id USER`), kept five
/// minutes: a directory lookup per message would put LDAP on every message's path.
#[derive(Default)]
struct SenderGroups {
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl SenderGroups {
    const KEEP: Duration = Duration::from_secs(300);
    const MAX_USERS: usize = 10_000;

    /// The groups of `user`; none when the account is unknown or the lookup fails (said once
    /// on stderr per lookup).
    fn of(&self, user: &str, internal: impl Fn(&str) -> bool) -> Vec<String> {
        let now = Instant::now();
        if let Some((at, groups)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            && now.duration_since(*at) < Self::KEEP
        {
            return groups.clone();
        }
        // An authenticated name may be `user@domain` (SASL realms): try it whole, then the
        // local part, but only for the organisation's own domains (`alice@elsewhere` is not
        // the local alice and must not borrow her groups).
        let local = match user.rsplit_once('@') {
            Some((local, realm)) if internal(&realm.to_ascii_lowercase()) => local,
            _ => user,
        };
        let groups = match crate::commands::policy::NssGroups.groups_of(user) {
            Ok(groups) => groups,
            Err(_) if local != user => crate::commands::policy::NssGroups
                .groups_of(local)
                .unwrap_or_else(|e| {
                    eprintln!("mamori milter: sender groups: {e}");
                    Vec::new()
                }),
            Err(e) => {
                eprintln!("mamori milter: sender groups: {e}");
                Vec::new()
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= Self::MAX_USERS {
            cache.clear();
        }
        cache.insert(user.to_owned(), (now, groups.clone()));
        groups
    }
}

/// Who sends: the SMTP-authenticated user, else the envelope sender. Groups only for an
/// authenticated sender: an envelope sender can be forged, and a forged one must not borrow
/// the exceptions of a group.
fn sender_principal(
    envelope: &Envelope,
    groups: Option<&SenderGroups>,
    internal: impl Fn(&str) -> bool,
) -> Principal {
    match envelope.auth_user() {
        Some(auth) => {
            let principal = Principal::new(auth);
            match groups {
                Some(groups) => principal.with_groups(groups.of(auth, internal)),
                None => principal,
            }
        }
        None => Principal::new(envelope.sender.clone()),
    }
}

/// Mails the sender of a refused or held message what happened (see
/// [`mamori_milter::SenderNotice`]), at most one notice per sender per interval.
struct Notices {
    config: NoticeConfig,
    throttle: Mutex<Throttle<String>>,
    sent: AtomicU64,
    /// To the one thread that runs sendmail, one notice at a time; when it falls behind,
    /// notices are dropped (said on stderr), never queued without bound.
    outbox: std::sync::mpsc::SyncSender<(String, Vec<u8>)>,
}

/// Notices waiting for sendmail.
const OUTBOX: usize = 64;

/// Longest a sendmail run may take before it is killed.
const SENDMAIL_TIMEOUT: Duration = Duration::from_secs(30);

impl Notices {
    fn new(config: NoticeConfig) -> Notices {
        let interval = Duration::from_secs(config.interval);
        let (outbox, rx) = std::sync::mpsc::sync_channel::<(String, Vec<u8>)>(OUTBOX);
        let command = config.sendmail.clone();
        let spawned = std::thread::Builder::new()
            .name("mamori-notice".into())
            .spawn(move || {
                for (recipient, bytes) in rx {
                    if let Err(e) = sendmail(&command, &recipient, &bytes) {
                        eprintln!(
                            "mamori milter: notice to {recipient} not sent / 送信者への通知に失敗: {e:#}"
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("mamori milter: notice thread: {e}");
        }
        Notices {
            config,
            throttle: Mutex::new(Throttle::new(interval)),
            sent: AtomicU64::new(0),
            outbox,
        }
    }

    /// Tells the sender of `message`, when the sender is one of the organisation's own
    /// addresses and not told too recently. Sends from a thread of its own: the MTA's answer
    /// never waits for it.
    fn tell(
        &self,
        message: &Message,
        inspected: &Inspected,
        judgement: &Judgement,
        outcome: Outcome,
        event_id: Option<String>,
        internal: impl Fn(&str) -> bool,
    ) {
        if self.config.only_authenticated && message.envelope.auth_user().is_none() {
            return; // an unauthenticated sender may be forged
        }
        let sender = message.envelope.sender.trim().to_ascii_lowercase();
        let Some((_, domain)) = sender.rsplit_once('@') else {
            return; // the null sender (a bounce) or a bare local name: nobody to tell
        };
        if !internal(domain) {
            return; // never to outside addresses: a forged sender would get backscatter
        }
        let held_back = match self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(sender.clone(), Instant::now())
        {
            Admission::Show { held_back } => held_back,
            Admission::Hold => return,
        };
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let notice = SenderNotice {
            from: self.config.from.clone(),
            to: sender.clone(),
            subject: inspected.summary.subject.clone(),
            recipients: message.envelope.recipients.clone(),
            outcome,
            level: (
                judgement.level_name.ja.clone(),
                judgement.level_name.en.clone(),
            ),
            reason: (
                judgement.decision.reason.ja.clone(),
                judgement.decision.reason.en.clone(),
            ),
            found: (
                judgement.found_text(Lang::Ja),
                judgement.found_text(Lang::En),
            ),
            queue_id: message.envelope.queue_id().map(str::to_owned),
            event_id,
            held_back,
            date: jiff::fmt::rfc2822::to_string(&jiff::Zoned::now()).unwrap_or_default(),
            unique: format!(
                "{}.{}.{n}",
                jiff::Timestamp::now().as_second(),
                std::process::id()
            ),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".to_owned()),
        };
        if self
            .outbox
            .try_send((sender.clone(), notice.compose()))
            .is_err()
        {
            eprintln!(
                "mamori milter: notice to {sender} dropped: too many waiting / 通知の待ちが多すぎるため破棄"
            );
        }
    }
}

/// Hands `message` to the MTA's sendmail for `recipient`, from the null sender (a notice is
/// never bounced back, so never loops), and waits at most [`SENDMAIL_TIMEOUT`].
fn sendmail(command: &[String], recipient: &str, message: &[u8]) -> anyhow::Result<()> {
    let (program, first) = command.split_first().context("empty sendmail command")?;
    let mut sendmail = std::process::Command::new(program);
    sendmail
        .args(first)
        .args(["-i", "-f", "<>", "--", recipient]);
    mamori_notify::run_with_input(&mut sendmail, message, SENDMAIL_TIMEOUT)?;
    Ok(())
}

/// What inspecting a message gave: one part per MIME part (or the whole message), which of them
/// are attachments, and the summary for the journal.
struct Inspected {
    parts: Vec<Part>,
    attachment: Vec<bool>,
    summary: Summary,
}

impl MailFilter {
    /// Parses the message once (`mail-parser`) and inspects its decoded header text, each body
    /// and each attachment as parts of their own, so the journal has every attachment's level.
    /// Messages over [`SPLIT_LIMIT`], or that do not parse, are inspected whole from memory or
    /// the spool file (the extractor reads the MIME tree itself, memory bounded).
    fn inspect(&self, message: &Message) -> std::io::Result<Inspected> {
        let mut inspected = None;
        if message.len() <= SPLIT_LIMIT {
            let copy;
            let raw = match message.bytes() {
                Some(bytes) => bytes,
                None => {
                    copy = message.read_prefix(SPLIT_LIMIT)?;
                    &copy
                }
            };
            let mut parts = Vec::new();
            let mut attachment = Vec::new();
            let summary = mamori_milter::walk(raw, MAX_PARTS, |p| {
                attachment.push(matches!(p.kind, PartKind::Attachment | PartKind::Message));
                parts.push(self.gatekeeper.inspect_bytes(Some(&p.name), p.bytes));
            });
            if let Some(summary) = summary {
                if summary.more > 0 {
                    // More parts than inspected: the policy's `uninspectable` rules decide.
                    if let Some(first) = parts.first_mut() {
                        first.uninspectable.push(Uninspectable {
                            location: Location::root(),
                            reason: UninspectableReason::TooManyEntries,
                        });
                    }
                }
                inspected = Some(Inspected {
                    parts,
                    attachment,
                    summary,
                });
            }
        }
        let mut inspected = match inspected {
            Some(inspected) => inspected,
            None => {
                let part = match message.bytes() {
                    Some(bytes) => self.gatekeeper.inspect_bytes(None, bytes),
                    None => {
                        let mut file = message.spool_file()?.ok_or_else(|| {
                            std::io::Error::other("spooled message without a file")
                        })?;
                        self.gatekeeper.inspect_file(None, &mut file)?
                    }
                };
                Inspected {
                    parts: vec![part],
                    attachment: vec![false],
                    summary: Summary {
                        subject: message.header("subject"),
                        ..Summary::default()
                    },
                }
            }
        };
        // A message cut short by a limit was not inspected whole: the policy's
        // `uninspectable` classification decides about the rest.
        if let Some(why) = message.incomplete
            && let Some(first) = inspected.parts.first_mut()
        {
            let reason = match why {
                Incomplete::TooLarge => UninspectableReason::TooLarge,
                _ => UninspectableReason::TooManyEntries,
            };
            first.uninspectable.push(Uninspectable {
                location: Location::root(),
                reason,
            });
        }
        Ok(inspected)
    }

    /// Journals the decision; returns the event's id when it was journalled.
    fn record(
        &self,
        message: &Message,
        inspected: &Inspected,
        judgement: &Judgement,
        verdict: &Verdict,
    ) -> Option<String> {
        // The attachments, with the level each got on its own.
        let items: Vec<Item> = judgement
            .items()
            .into_iter()
            .zip(&inspected.attachment)
            .filter(|(_, attachment)| **attachment)
            .map(|(item, _)| item)
            .collect();
        let envelope = &message.envelope;
        let mut event = judgement
            .event(Operation::Mail, Channel::Mail)
            .with_transfer(Transfer {
                client: envelope.client_addr.clone(),
                sender: Some(envelope.sender.clone()),
                subject: inspected.summary.subject.clone(),
                reference: envelope.queue_id().map(str::to_owned),
                items,
            });
        if let Some(user) = envelope.auth_user() {
            event = event.with_detail(format!("auth_user={user}"));
        }
        if let Some(why) = message.incomplete {
            event = event.with_detail(format!("incomplete={}", why.as_str()));
        }
        log_decision(
            envelope,
            &judgement.level,
            verdict,
            &judgement.detector_summary(),
        );
        match self.gatekeeper.record(event) {
            Ok(id) => id.map(|id| id.to_string()),
            Err(e) => {
                eprintln!("mamori milter: {e}");
                None
            }
        }
    }

    fn fail_verdict(&self) -> Verdict {
        match self.fail_action {
            FailAction::Tempfail => Verdict::tempfail_default(),
            FailAction::Accept => Verdict::accept(),
            FailAction::Reject => Verdict::Reject(Reply::policy_reject(
                "Message could not be inspected and is refused by policy",
            )),
        }
    }
}

impl Filter for MailFilter {
    fn decide(&self, message: &Message) -> Verdict {
        let started = Instant::now();
        let inspected = match self.inspect(message) {
            Ok(inspected) => inspected,
            Err(e) => return self.fail(&message.envelope, &Failure::Spool(e)),
        };
        let envelope = &message.envelope;
        let policy = self.gatekeeper.policy();
        let principal = sender_principal(envelope, self.groups.as_ref(), |domain| {
            policy.is_internal_mail_domain(domain)
        });
        let destination = Destination::Mail(envelope.recipients.clone());
        let judgement =
            self.gatekeeper
                .judge(&inspected.parts, Channel::Mail, &principal, &destination);
        let verdict = verdict_for(&judgement);
        let event_id = self.record(message, &inspected, &judgement, &verdict);
        let outcome = match &verdict {
            Verdict::Reject(_) => Some(Outcome::Refused),
            Verdict::Quarantine { .. } => Some(Outcome::Held),
            _ => None,
        };
        // A decision this late may come after the server answered the MTA with the fail
        // action (it keeps running, and its answer is dropped): a notice saying "refused"
        // could then contradict what happened to the message.
        let margin = (self.decide_timeout / 10).min(Duration::from_secs(1));
        let in_time = started.elapsed() + margin < self.decide_timeout;
        if !in_time && outcome.is_some() {
            eprintln!(
                "mamori milter: queue_id={} decided after the time limit; no notice to the sender / 時間切れのため通知しません",
                envelope.queue_id().unwrap_or("-")
            );
        }
        if let (Some(notices), Some(outcome), true) = (&self.notices, outcome, in_time) {
            let policy = self.gatekeeper.policy();
            notices.tell(
                message,
                &inspected,
                &judgement,
                outcome,
                event_id,
                |domain| policy.is_internal_mail_domain(domain),
            );
        }
        verdict
    }

    fn fail(&self, envelope: &Envelope, failure: &Failure) -> Verdict {
        let verdict = self.fail_verdict();
        eprintln!(
            "mamori milter: queue_id={} sender={} {failure}; answering {} (fail_action) / 判定できませんでした",
            envelope.queue_id().unwrap_or("-"),
            envelope.sender,
            verdict.name()
        );
        let event = mamori_journal::Event::new(Operation::Mail)
            .with_channel(Channel::Mail)
            .with_transfer(Transfer {
                client: envelope.client_addr.clone(),
                sender: Some(envelope.sender.clone()),
                reference: envelope.queue_id().map(str::to_owned),
                ..Transfer::default()
            })
            .with_detail(format!("undecided: {failure}; answered {}", verdict.name()));
        if let Err(e) = self.gatekeeper.record(event) {
            eprintln!("mamori milter: {e}");
        }
        verdict
    }
}

/// The headers telling the recipient's side what Mamori found.
fn mamori_headers(judgement: &Judgement) -> Vec<(String, String)> {
    let found = judgement.detector_summary().join(", ").replace('×', "x");
    vec![
        ("X-Mamori-Level".to_owned(), judgement.level.clone()),
        (
            "X-Mamori-Findings".to_owned(),
            if found.is_empty() {
                "none".to_owned()
            } else {
                found
            },
        ),
    ]
}

/// The MTA's answer for a judgement.
fn verdict_for(judgement: &Judgement) -> Verdict {
    let rule = judgement
        .decision
        .rules
        .first()
        .map(String::as_str)
        .unwrap_or("default");
    match judgement.decision.action {
        // Allowed mail passes untouched (the decision is in the journal).
        Action::Allow | Action::Audit => Verdict::accept(),
        Action::Notify => Verdict::Accept {
            headers: mamori_headers(judgement),
        },
        Action::Quarantine => Verdict::Quarantine {
            reason: format!(
                "Mamori: {} content held for review (rule {rule})",
                judgement.level_name.en
            ),
            headers: mamori_headers(judgement),
        },
        // Block, and what a mail gateway cannot do in-line (a business reason, encryption):
        // refuse with the reason, in English (SMTP replies are ASCII).
        _ => {
            let found = judgement.detector_summary().join(", ").replace('×', "x");
            let what = if found.is_empty() {
                String::new()
            } else {
                format!("; found {found}")
            };
            let how = match judgement.decision.action {
                Action::Encrypt => " (encryption required)",
                Action::Justify => " (a business reason is required)",
                _ => "",
            };
            Verdict::Reject(Reply::policy_reject(&format!(
                "Message refused by data-leak policy{how}: {} content{what} (rule {rule})",
                judgement.level_name.en
            )))
        }
    }
}

fn log_decision(envelope: &Envelope, level: &str, verdict: &Verdict, found: &[String]) {
    eprintln!(
        "mamori milter: queue_id={} sender={} recipients={} level={level} verdict={} found=[{}]",
        envelope.queue_id().unwrap_or("-"),
        envelope.sender,
        envelope.recipients.join(","),
        verdict.name(),
        found.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_model::{Bilingual, Decision};

    fn judgement(action: Action, findings: usize) -> Judgement {
        let finding = mamori_model::Finding::new(
            "label.shagaihi",
            mamori_model::Category::Label,
            mamori_model::Confidence::High,
        );
        Judgement {
            level: "internal".into(),
            level_name: Bilingual::new("社外秘", "Internal"),
            decision: Decision {
                action,
                level: "internal".into(),
                rules: vec!["mail-internal-external".into()],
                reason: Bilingual::new("", ""),
            },
            findings: vec![finding; findings],
            uninspectable: Vec::new(),
            reasons: Vec::new(),
            parts: Vec::new(),
            destination: Default::default(),
            found: Vec::new(),
        }
    }

    fn envelope(sender: &str, auth: Option<&str>) -> Envelope {
        let mut envelope = Envelope {
            client_host: None,
            client_addr: None,
            helo: None,
            sender: sender.into(),
            recipients: vec!["x@partner.example".into()],
            macros: Default::default(),
        };
        if let Some(auth) = auth {
            envelope.macros.insert("auth_authen".into(), auth.into());
        }
        envelope
    }

    fn internal(domain: &str) -> bool {
        domain == "example.co.jp"
    }

    #[test]
    fn only_an_authenticated_sender_has_groups() {
        // root is in group root on every Linux system, through the same NSS as `id root`.
        let groups = SenderGroups::default();
        let p = sender_principal(
            &envelope("root@example.co.jp", Some("root")),
            Some(&groups),
            internal,
        );
        assert_eq!(p.user, "root");
        assert!(p.groups.iter().any(|g| g == "root"), "{p:?}");
        // A SASL name with an internal realm falls back to its local part...
        let p = sender_principal(
            &envelope("x@example.co.jp", Some("root@example.co.jp")),
            Some(&groups),
            internal,
        );
        assert!(p.groups.iter().any(|g| g == "root"), "{p:?}");
        // ...but a name from another realm is not the local account of that name.
        let p = sender_principal(
            &envelope("x@example.co.jp", Some("root@elsewhere.example")),
            Some(&groups),
            internal,
        );
        assert!(p.groups.is_empty(), "{p:?}");
        // The same envelope sender without authentication: no groups, whatever it claims.
        let p = sender_principal(&envelope("root", None), Some(&groups), internal);
        assert_eq!((p.user.as_str(), p.groups.len()), ("root", 0));
        // Lookups off, or an unknown account: no groups, no error.
        let p = sender_principal(&envelope("root", Some("root")), None, internal);
        assert!(p.groups.is_empty());
        let p = sender_principal(
            &envelope("a@b", Some("no-such-user-mamori")),
            Some(&groups),
            internal,
        );
        assert!(p.groups.is_empty());
    }

    /// A message as the MTA hands it over; `auth` is the SASL login, if any.
    fn collected(sender: &str, auth: Option<&str>) -> Message {
        let mut c = mamori_milter::Collector::new(mamori_milter::Limits::default());
        if let Some(auth) = auth {
            c.macros([(&b"{auth_authen}"[..], auth.as_bytes())]);
        }
        c.mail_from(&format!("<{sender}>"));
        c.rcpt("<buyer@partner.example>");
        c.header(b"Subject", "見積書".as_bytes()).unwrap();
        c.body(b"hello\r\n").unwrap();
        c.finish().unwrap()
    }

    /// Runs `tell` with a sendmail that writes its arguments and the notice to a file; returns
    /// what it wrote, or None when no notice came within a few seconds.
    fn notice_sent(
        only_authenticated: bool,
        sender: &str,
        auth: Option<&str>,
        expected: bool,
    ) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sent.txt");
        let notices = Notices::new(NoticeConfig {
            from: "mamori@example.co.jp".into(),
            // sh -c SCRIPT NAME ARGS...: the arguments sendmail gets come after the name.
            sendmail: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo \"$*\" > {0}; cat >> {0}", out.display()),
                "sendmail".into(),
            ],
            interval: 0,
            only_authenticated,
        });
        let message = collected(sender, auth);
        let inspected = Inspected {
            parts: Vec::new(),
            attachment: Vec::new(),
            summary: Summary {
                subject: Some("見積書".into()),
                ..Summary::default()
            },
        };
        notices.tell(
            &message,
            &inspected,
            &judgement(Action::Block, 1),
            Outcome::Refused,
            Some("01a2-ev".into()),
            internal,
        );
        // A sent notice arrives within milliseconds; ten seconds when one is expected, one
        // when none is (the script runs at once if it runs at all).
        let wait = if expected { 10 } else { 1 };
        let until = Instant::now() + Duration::from_secs(wait);
        while Instant::now() < until {
            if let Ok(text) = std::fs::read_to_string(&out)
                && text.contains("X-Mamori-Notice")
            {
                return Some(text);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[test]
    fn notices_go_only_to_authenticated_internal_senders() {
        let sent = notice_sent(true, "tanaka@example.co.jp", Some("tanaka"), true)
            .expect("an authenticated internal sender is told");
        assert!(
            sent.starts_with("-i -f <> -- tanaka@example.co.jp"),
            "from the null sender, to the sender: {sent}"
        );
        assert!(sent.contains("X-Mamori-Notice: refused"), "{sent}");
        // A forged internal sender (no SMTP authentication) is not told by default...
        assert_eq!(notice_sent(true, "ceo@example.co.jp", None, false), None);
        // ...unless the site says its internal mail comes only through checked relays.
        assert!(notice_sent(false, "ceo@example.co.jp", None, true).is_some());
        // Outside addresses never, authenticated or not; nor the null sender.
        assert_eq!(
            notice_sent(false, "someone@partner.example", Some("x"), false),
            None
        );
        assert_eq!(notice_sent(false, "", None, false), None);
    }

    #[test]
    fn actions_map_to_verdicts() {
        assert_eq!(verdict_for(&judgement(Action::Allow, 0)), Verdict::accept());
        assert_eq!(verdict_for(&judgement(Action::Audit, 3)), Verdict::accept());
        let Verdict::Accept { headers } = verdict_for(&judgement(Action::Notify, 2)) else {
            panic!("notify accepts");
        };
        assert_eq!(headers[0], ("X-Mamori-Level".into(), "internal".into()));
        assert_eq!(
            headers[1],
            ("X-Mamori-Findings".into(), "label.shagaihi x2".into())
        );
        assert!(matches!(
            verdict_for(&judgement(Action::Quarantine, 1)),
            Verdict::Quarantine { .. }
        ));
        let Verdict::Reject(reply) = verdict_for(&judgement(Action::Block, 1)) else {
            panic!("block rejects");
        };
        assert_eq!(
            reply.to_string(),
            "550 5.7.1 Message refused by data-leak policy: Internal content; found label.shagaihi (rule mail-internal-external)"
        );
        let Verdict::Reject(reply) = verdict_for(&judgement(Action::Encrypt, 1)) else {
            panic!("encrypt cannot be done in-line");
        };
        assert!(reply.text().contains("encryption required"));
    }
}

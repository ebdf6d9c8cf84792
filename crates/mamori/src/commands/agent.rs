//! `mamori agent`: the Linux endpoint agent (fanotify; root), and `mamori agent status`.
//!
//! The agent itself is the `mamori-agent` crate; this module builds its configuration from a
//! config file and flags, gives it the gatekeeper (inspection, policy, journal) as its
//! assessor and recorder, and handles signals: SIGHUP reloads the configuration file's watch
//! list, exclusions and controlled mounts, and the policy (what does not load keeps the old
//! one; settings only a restart applies are named), SIGTERM and SIGINT stop the agent cleanly.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use anyhow::{Context as _, bail};
use mamori_agent::mounts::Detector;
use mamori_agent::{Agent, Assessment, Assessor, Config, FailMode, Recorder, Reload};
use mamori_gateway::Gatekeeper;
use mamori_journal::{Event, FoldOptions, JournalOptions};
use mamori_model::Bilingual;
use mamori_policy::{ClassifyInput, Policy};

use super::gateway::GatewayOptions;

/// Arguments of `mamori agent`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum AgentCommand {
    /// Show what a running agent watches, its queues, decisions and cache hit rate / 稼働状況
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    format: StatusFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum DeviceDefault {
    Allow,
    ReadOnly,
    Block,
    Reject,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum Fail {
    Open,
    Closed,
}

/// Running the agent.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// A configuration file (TOML; see docs/agent.md). Flags add to it or override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A tree whose files are classified and audited (repeatable).
    #[arg(long, value_name = "PATH")]
    watch: Vec<PathBuf>,
    /// Observe mode, without root: record operations on your own tree; nothing is blocked.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["watch", "removable", "share"])]
    observe: Option<PathBuf>,
    /// A mount point treated as removable media (repeatable).
    #[arg(long, value_name = "PATH")]
    removable: Vec<PathBuf>,
    /// A mount point treated as a network share (repeatable).
    #[arg(long, value_name = "PATH")]
    share: Vec<PathBuf>,
    /// Do not detect removable media and network shares automatically (mount types, sysfs).
    #[arg(long)]
    no_auto_detect: bool,
    /// The sysfs root used to tell removable block devices.
    #[arg(long, value_name = "DIR")]
    sysfs_root: Option<PathBuf>,
    /// Paths never decided nor recorded (glob, repeatable), e.g. `**/.cache/**`.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Time allowed per decision, in milliseconds.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// Decisions on content at or above this level fail closed when late (a level id).
    #[arg(long, value_name = "LEVEL")]
    fail_closed_from: Option<String>,
    /// The answer for content whose level is not known in time.
    #[arg(long, value_enum)]
    fail_unknown: Option<Fail>,
    /// The answer when a worker queue is full.
    #[arg(long, value_enum)]
    queue_full: Option<Fail>,
    /// Worker threads deciding opens.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// A worker stuck this long aborts the agent (the kernel then lets opens through and
    /// systemd restarts it), in seconds.
    #[arg(long, value_name = "SECS")]
    watchdog_secs: Option<f64>,
    /// Record only: never refuse (a trial before enforcing).
    #[arg(long)]
    audit_only: bool,
    /// Record every open, also those the policy allows without a record.
    #[arg(long)]
    audit_all_opens: bool,
    /// Do not cache allows in the kernel (evictable ignore marks).
    #[arg(long)]
    no_kernel_cache: bool,
    /// Fold repeated identical events within this many seconds (0: record each).
    #[arg(long, value_name = "SECS")]
    fold_secs: Option<u64>,
    /// USB device rules (`mamori device` rules, docs/device.md). Without it devices are only
    /// recorded.
    #[arg(long, value_name = "FILE")]
    device_rules: Option<PathBuf>,
    /// The target for a USB device no rule matches.
    #[arg(long, value_enum, default_value_t = DeviceDefault::ReadOnly)]
    device_default: DeviceDefault,
    /// Where `mamori justify` leaves justifications for the agent.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_JUSTIFY_DIR)]
    justify_dir: PathBuf,
    /// No desktop pop-ups: refusals are told on the person's terminals only.
    #[arg(long)]
    no_popups: bool,
    /// Where users' runtime directories are: a pop-up goes to the session bus DIR/UID/bus
    /// (default /run/user).
    #[arg(long, value_name = "DIR")]
    user_runtime_dir: Option<PathBuf>,
    /// Test hook: stall the worker that gets an open of a file with this name.
    #[arg(long, value_name = "NAME", hide = true)]
    debug_stall_on: Option<String>,
    #[command(flatten)]
    gateway: GatewayOptions,
}

/// The configuration file: the same settings as the flags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    watch: Vec<PathBuf>,
    #[serde(default)]
    removable: Vec<PathBuf>,
    #[serde(default)]
    share: Vec<PathBuf>,
    #[serde(default)]
    exclude: Vec<String>,
    auto_detect: Option<bool>,
    sysfs_root: Option<PathBuf>,
    policy: Option<PathBuf>,
    rules: Option<Vec<PathBuf>>,
    data_dir: Option<PathBuf>,
    deadline_ms: Option<u64>,
    fail_closed_from: Option<String>,
    fail_unknown: Option<String>,
    queue_full: Option<String>,
    workers: Option<usize>,
    watchdog_secs: Option<f64>,
    audit_only: Option<bool>,
    audit_all_opens: Option<bool>,
    popups: Option<bool>,
    user_runtime_dir: Option<PathBuf>,
    fold_secs: Option<u64>,
}

/// Where justifications go by default.
pub const DEFAULT_JUSTIFY_DIR: &str = "/run/mamori/justify";

/// Arguments of `mamori justify`.
#[derive(Debug, clap::Args)]
pub struct JustifyArgs {
    /// The id of the refused event (the agent's message names it) / 拒否されたイベントのID.
    pub event: String,
    /// Your business reason / 業務上の理由.
    pub reason: String,
    /// The agent's justification directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_JUSTIFY_DIR)]
    pub dir: PathBuf,
}

/// Runs `mamori justify`: leaves a justification for the agent, which checks that it is yours
/// and allows that copy once, for a minute, recorded with your reason.
pub fn justify(args: JustifyArgs) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if args.reason.trim().is_empty() {
        bail!("a reason is required / 理由を入力してください");
    }
    if args.event.parse::<mamori_journal::EventId>().is_err() {
        bail!(
            "`{}` is not an event id / イベントIDではありません",
            args.event
        );
    }
    let name = format!("{}-{}.json", args.event, std::process::id());
    let path = args.dir.join(name);
    let body = serde_json::json!({ "event": args.event, "reason": args.reason });
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot leave the justification in {} (is the agent running?) / 理由を送れません",
                args.dir.display()
            )
        })?;
    file.write_all(body.to_string().as_bytes())?;
    println!(
        "justification sent; try again within a minute / 理由を送信しました。1分以内に再試行してください"
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `mamori agent`.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(AgentCommand::Status(status)) => show_status(&args.run.gateway, &status),
        None => run_agent(args.run),
    }
}

fn fail_mode(text: &str) -> anyhow::Result<FailMode> {
    match text {
        "open" => Ok(FailMode::Open),
        "closed" => Ok(FailMode::Closed),
        other => bail!("fail mode must be `open` or `closed`, not `{other}`"),
    }
}

fn canonical(paths: &[PathBuf], what: &str) -> anyhow::Result<Vec<PathBuf>> {
    paths
        .iter()
        .map(|p| std::fs::canonicalize(p).with_context(|| format!("--{what} {}", p.display())))
        .collect()
}

/// Reads the configuration file, if one is given.
fn read_config(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", path.display()))
        }
        None => Ok(ConfigFile::default()),
    }
}

/// The settings a running agent can take on SIGHUP, from the file and the flags (lists add
/// up, flags win).
fn reloadable(args: &RunArgs, file: &ConfigFile) -> anyhow::Result<Reload> {
    let mut watch = file.watch.clone();
    watch.extend(args.watch.iter().cloned());
    let mut removable = file.removable.clone();
    removable.extend(args.removable.iter().cloned());
    let mut shares = file.share.clone();
    shares.extend(args.share.iter().cloned());
    let mut exclude = file.exclude.clone();
    exclude.extend(args.exclude.iter().cloned());
    if watch.is_empty() {
        bail!(
            "nothing to watch: give --watch PATH (or `watch` in the config) / 監視するパスを指定してください"
        );
    }
    Ok(Reload {
        watch,
        exclude,
        detector: Detector {
            removable: canonical(&removable, "removable")?,
            shares: canonical(&shares, "share")?,
            auto: !args.no_auto_detect && file.auto_detect.unwrap_or(true),
            sysfs_root: args
                .sysfs_root
                .clone()
                .or(file.sysfs_root.clone())
                .unwrap_or_else(|| PathBuf::from("/sys")),
        },
    })
}

/// The settings of the file that a reload cannot change, as text to compare.
fn restart_only(file: &ConfigFile) -> Vec<(&'static str, String)> {
    vec![
        ("data_dir", format!("{:?}", file.data_dir)),
        ("rules", format!("{:?}", file.rules)),
        ("deadline_ms", format!("{:?}", file.deadline_ms)),
        ("fail_closed_from", format!("{:?}", file.fail_closed_from)),
        ("fail_unknown", format!("{:?}", file.fail_unknown)),
        ("queue_full", format!("{:?}", file.queue_full)),
        ("workers", format!("{:?}", file.workers)),
        ("watchdog_secs", format!("{:?}", file.watchdog_secs)),
        ("audit_only", format!("{:?}", file.audit_only)),
        ("audit_all_opens", format!("{:?}", file.audit_all_opens)),
        ("popups", format!("{:?}", file.popups)),
        ("user_runtime_dir", format!("{:?}", file.user_runtime_dir)),
        ("fold_secs", format!("{:?}", file.fold_secs)),
    ]
}

/// SIGHUP: the configuration file and the policy again. What does not load leaves the agent
/// as it was; settings only a restart applies are named.
fn reload(
    args: &RunArgs,
    policy_flag: Option<&Path>,
    agent: &Agent,
    gatekeeper: &Gatekeeper,
    started: &ConfigFile,
) {
    let file = match read_config(args.config.as_deref()) {
        Ok(file) => file,
        Err(e) => {
            eprintln!(
                "mamori agent: configuration reload failed, keeping the old one / 設定の再読込に失敗したため旧設定を継続: {e:#}"
            );
            return;
        }
    };
    match reloadable(args, &file).and_then(|r| agent.reload(r).map_err(anyhow::Error::from)) {
        Ok(()) => eprintln!("mamori agent: configuration reloaded / 設定を再読込しました"),
        Err(e) => eprintln!(
            "mamori agent: configuration reload failed, keeping the old one / 設定の再読込に失敗したため旧設定を継続: {e:#}"
        ),
    }
    let changed: Vec<&str> = restart_only(started)
        .into_iter()
        .zip(restart_only(&file))
        .filter(|(old, new)| old.1 != new.1)
        .map(|(old, _)| old.0)
        .collect();
    if !changed.is_empty() {
        eprintln!(
            "mamori agent: these settings take effect at the next restart / 次回の再起動で反映される設定: {}",
            changed.join(", ")
        );
    }
    let policy = policy_flag
        .map(Path::to_path_buf)
        .or_else(|| file.policy.clone());
    match crate::commands::policy::load_policy(policy.as_deref()) {
        Ok(policy) => {
            gatekeeper.replace_policy(policy);
            agent.policy_changed();
            eprintln!("mamori agent: policy reloaded / ポリシーを再読込しました");
        }
        Err(e) => eprintln!(
            "mamori agent: policy reload failed, keeping the old one / 再読込に失敗したため旧ポリシーを継続: {e:#}"
        ),
    }
}

fn run_agent(mut args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(root) = args.observe.clone() {
        return run_observe(&root, &args);
    }
    let file = read_config(args.config.as_deref())?;
    let policy_flag = args.gateway.policy.clone();
    let live = reloadable(&args, &file)?;
    if args.gateway.policy.is_none() {
        args.gateway.policy = file.policy.clone();
    }
    if args.gateway.rules.is_empty() {
        args.gateway.rules = file.rules.clone().unwrap_or_default();
    }
    if args.gateway.data_dir.data_dir.is_none() {
        args.gateway.data_dir.data_dir = file.data_dir.clone();
    }
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the agent needs root (fanotify permission events); blocking is impossible without it; to record your own tree without root use --observe PATH / エージェントの実行には root 権限が必要です (root なしで記録のみ: --observe PATH)"
        );
    }

    // The gatekeeper without its journal; the agent's journal folds repeated events.
    let mut options = args.gateway.clone();
    let journaling = !options.no_journal;
    options.no_journal = true;
    let gatekeeper = options.build()?;
    let data_dir = args.gateway.data_dir.ensure()?;
    let gatekeeper = if journaling {
        let fold_secs = args.fold_secs.or(file.fold_secs).unwrap_or(10);
        let journal = mamori_journal::Journal::open(
            &data_dir,
            JournalOptions {
                fold: (fold_secs > 0).then(|| FoldOptions {
                    window: Duration::from_secs(fold_secs),
                    ..FoldOptions::default()
                }),
                ..JournalOptions::default()
            },
        )
        .with_context(|| format!("cannot open the journal in {}", data_dir.display()))?;
        gatekeeper.with_journal(Arc::new(journal))
    } else {
        gatekeeper
    };
    let gatekeeper = Arc::new(gatekeeper);

    let mut cfg = Config::new(live.watch, live.detector, &data_dir);
    cfg.exclude = live.exclude;
    if let Some(ms) = args.deadline_ms.or(file.deadline_ms) {
        cfg.deadline = Duration::from_millis(ms);
    }
    cfg.fail_closed_from = args
        .fail_closed_from
        .clone()
        .or(file.fail_closed_from.clone());
    if let Some(f) = args.fail_unknown {
        cfg.fail_unknown = if f == Fail::Open {
            FailMode::Open
        } else {
            FailMode::Closed
        };
    } else if let Some(f) = &file.fail_unknown {
        cfg.fail_unknown = fail_mode(f)?;
    }
    if let Some(f) = args.queue_full {
        cfg.queue_full = if f == Fail::Open {
            FailMode::Open
        } else {
            FailMode::Closed
        };
    } else if let Some(f) = &file.queue_full {
        cfg.queue_full = fail_mode(f)?;
    }
    if let Some(w) = args.workers.or(file.workers) {
        cfg.workers = w;
    }
    if let Some(s) = args.watchdog_secs.or(file.watchdog_secs) {
        cfg.watchdog = Duration::from_secs_f64(s);
    }
    cfg.enforce = !(args.audit_only || file.audit_only.unwrap_or(false));
    cfg.audit_all_opens = args.audit_all_opens || file.audit_all_opens.unwrap_or(false);
    cfg.cache_allows = !args.no_kernel_cache;
    cfg.stall_on = args.debug_stall_on.clone();
    cfg.justify_dir = Some(args.justify_dir.clone());
    let controller = match &args.device_rules {
        Some(path) => {
            use mamori_device::rules::{RuleSet, Target};
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let default = match args.device_default {
                DeviceDefault::Allow => Target::Allow,
                DeviceDefault::ReadOnly => Target::ReadOnly,
                DeviceDefault::Block => Target::Block,
                DeviceDefault::Reject => Target::Reject,
            };
            let rules = RuleSet::parse(&text, &path.display().to_string(), default)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(std::sync::Mutex::new(mamori_device::Controller::new(
                rules,
                &cfg.detector.sysfs_root,
                Path::new("/dev"),
            )))
        }
        None => None,
    };
    cfg.devices = Some(Arc::new(Devices { controller }));

    // Signals are taken synchronously by this thread; every agent thread inherits the mask.
    let signals = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];
    mamori_agent::sys::block_signals(&signals).context("blocking signals")?;

    let runtime_dir = args
        .user_runtime_dir
        .clone()
        .or_else(|| file.user_runtime_dir.clone())
        .unwrap_or_else(|| PathBuf::from(mamori_notify::DEFAULT_RUNTIME_ROOT));
    let popups = (!args.no_popups && file.popups != Some(false))
        .then(|| super::notify::messenger(runtime_dir));
    let recorder = Arc::new(GateRecorder::new(Arc::clone(&gatekeeper), popups));
    let assessor = Arc::new(GateAssessor {
        gatekeeper: Arc::clone(&gatekeeper),
    });
    let watched: Vec<String> = cfg.watch.iter().map(|p| p.display().to_string()).collect();
    let agent = Agent::start(cfg, assessor, recorder).context("cannot start the agent")?;
    let status = agent.status();
    eprintln!(
        "mamori agent {}: watching {}; controlled mounts: {} / 監視を開始しました",
        std::process::id(),
        watched.join(", "),
        if status.controlled.is_empty() {
            "none".to_owned()
        } else {
            status
                .controlled
                .iter()
                .map(|(p, ch, why)| format!("{p} ({ch}, {why})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    notify_systemd("READY=1");
    loop {
        notify_systemd("WATCHDOG=1");
        match mamori_agent::sys::wait_signal(&signals, Duration::from_secs(1)) {
            Some(libc::SIGHUP) => reload(&args, policy_flag.as_deref(), &agent, &gatekeeper, &file),
            Some(_) => break,
            None => {}
        }
    }
    notify_systemd("STOPPING=1");
    agent.stop();
    if let Some(journal) = gatekeeper.journal() {
        journal.flush().context("flushing the journal")?;
    }
    eprintln!("mamori agent: stopped / 停止しました");
    Ok(ExitCode::SUCCESS)
}

/// `mamori agent --observe PATH`: record only, no root.
fn run_observe(root: &Path, args: &RunArgs) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let data_dir = args.gateway.data_dir.ensure()?;
    let fold_secs = args.fold_secs.unwrap_or(10);
    let journal = Arc::new(
        mamori_journal::Journal::open(
            &data_dir,
            JournalOptions {
                fold: (fold_secs > 0).then(|| FoldOptions {
                    window: Duration::from_secs(fold_secs),
                    ..FoldOptions::default()
                }),
                ..JournalOptions::default()
            },
        )
        .with_context(|| format!("cannot open the journal in {}", data_dir.display()))?,
    );
    let signals = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];
    mamori_agent::sys::block_signals(&signals).context("blocking signals")?;
    let mut observer = mamori_agent::observe::Observer::new(root)
        .context("cannot observe (unprivileged fanotify needs Linux 5.13+)")?;
    eprintln!(
        "mamori agent: observing {} ({} directories): operations are recorded, nothing is blocked; blocking needs root / 観察モード: 記録のみで遮断はしません (遮断には root 権限が必要です)",
        root.display(),
        observer.directories()
    );
    let recorder: Arc<dyn Recorder> = Arc::new(JournalRecorder(Arc::clone(&journal)));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || observer.run(&recorder, &stop))
    };
    // SIGHUP and timeouts keep observing; SIGTERM and SIGINT stop.
    while let Some(libc::SIGHUP) | None =
        mamori_agent::sys::wait_signal(&signals, Duration::from_secs(1))
    {}
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    journal.flush().context("flushing the journal")?;
    eprintln!("mamori agent: stopped / 停止しました");
    Ok(ExitCode::SUCCESS)
}

struct JournalRecorder(Arc<mamori_journal::Journal>);

impl Recorder for JournalRecorder {
    fn record(&self, event: Event) {
        if let Err(e) = self.0.append(event) {
            eprintln!("mamori agent: journal: {e}");
        }
    }
}

/// Device events for the agent: every block device attach and detach; with rules, USB devices
/// decided and acted on through `mamori-device`.
#[derive(Debug)]
struct Devices {
    controller: Option<std::sync::Mutex<mamori_device::Controller>>,
}

impl mamori_agent::DeviceHook for Devices {
    fn present(&self) -> Vec<Event> {
        let Some(c) = &self.controller else {
            return Vec::new();
        };
        match c.lock().unwrap_or_else(|e| e.into_inner()).decide_present() {
            Ok(outcomes) => outcomes.iter().map(super::device::outcome_event).collect(),
            Err(e) => {
                eprintln!("mamori agent: deciding the devices present: {e}");
                Vec::new()
            }
        }
    }

    fn on_uevent(&self, datagram: &[u8]) -> Vec<Event> {
        use mamori_journal::Operation;
        let Ok(ev) = mamori_device::uevent::Uevent::parse(datagram) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if ev.var("SUBSYSTEM") == Some("block")
            && matches!(ev.var("DEVTYPE"), Some("disk" | "partition"))
            && matches!(ev.action.as_str(), "add" | "remove")
        {
            let name = ev.var("DEVNAME").unwrap_or("?");
            let add = ev.action == "add";
            out.push(
                Event::new(Operation::Device)
                    .with_path(format!("/dev/{name}"))
                    .with_detail(format!(
                        "block device {} {name} / ブロックデバイス{}",
                        if add { "attached" } else { "detached" },
                        if add { "接続" } else { "取り外し" }
                    )),
            );
        }
        if let Some(c) = &self.controller {
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let outcomes = c
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .on_uevent(&ev, &mountinfo);
            out.extend(outcomes.iter().map(super::device::outcome_event));
        }
        out
    }
}

/// `sd_notify` without a library: a datagram to `$NOTIFY_SOCKET`, when systemd gave one.
fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let _ = sock.send_to(state.as_bytes(), Path::new(&path));
}

/// Levels through the gatekeeper: inspect the content, classify with the path and the
/// explicit label read from the open fd (`user.mamori.level`).
struct GateAssessor {
    gatekeeper: Arc<Gatekeeper>,
}

impl Assessor for GateAssessor {
    fn policy(&self) -> Arc<Policy> {
        self.gatekeeper.policy()
    }

    fn assess(&self, path: &Path, file: &mut File) -> std::io::Result<Assessment> {
        use xattr::FileExt as _;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let part = self.gatekeeper.inspect_file(name.as_deref(), file)?;
        let label = match file.get_xattr(super::label::LABEL_XATTR) {
            Ok(Some(bytes)) => {
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                (!text.is_empty()).then_some(text)
            }
            _ => None,
        };
        let policy = self.gatekeeper.policy();
        let class = policy.classify(&ClassifyInput {
            path: Some(path),
            findings: &part.findings,
            uninspectable: &part.uninspectable,
            explicit_label: label.as_deref(),
        });
        let why = class.reasons.first().map(|w| match w.rule() {
            Some(rule) => format!("{}: {rule}", w.kind()),
            None => w.kind().to_owned(),
        });
        Ok(Assessment {
            level: class.level,
            why,
            findings: part.findings,
        })
    }

    fn level_of_empty(&self, path: &Path, file: &File) -> Option<mamori_policy::LevelId> {
        use xattr::FileExt as _;
        let label = match file.get_xattr(super::label::LABEL_XATTR) {
            Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            Ok(None) => None,
            Err(_) => return None,
        };
        let policy = self.gatekeeper.policy();
        Some(
            policy
                .classify(&ClassifyInput {
                    path: Some(path),
                    findings: &[],
                    uninspectable: &[],
                    explicit_label: label.as_deref().filter(|l| !l.is_empty()),
                })
                .level,
        )
    }
}

/// Events into the gatekeeper's journal; messages to the person from a thread of their own (a
/// blocked terminal or a slow desktop must never hold a worker): on their terminals, and as a
/// desktop pop-up when they have a graphical session.
struct GateRecorder {
    gatekeeper: Arc<Gatekeeper>,
    tell: SyncSender<(u32, String, String)>,
}

impl GateRecorder {
    fn new(gatekeeper: Arc<Gatekeeper>, popups: Option<mamori_notify::Messenger>) -> GateRecorder {
        let (tx, rx) = sync_channel::<(u32, String, String)>(256);
        std::thread::Builder::new()
            .name("mamori-tell".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // What the agent says about one refusal comes in a few messages (the reason,
                    // then how to justify): gather what arrives together into one pop-up.
                    let mut batch = vec![first];
                    let until = std::time::Instant::now() + Duration::from_millis(50);
                    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                        match rx.recv_timeout(left) {
                            Ok(more) => batch.push(more),
                            Err(_) => break,
                        }
                    }
                    for (uid, ja, en) in &batch {
                        let text = format!("Mamori: {ja}\nMamori: {en}");
                        eprintln!("mamori agent: uid {uid}: {text}");
                        write_to_terminals(*uid, &text);
                    }
                    let Some(messenger) = &popups else { continue };
                    for (uid, reason) in gather_by_person(batch) {
                        match messenger.tell(uid, &mamori_notify::Notice::refusal(reason)) {
                            Ok(_) => {}
                            // Most refusals hit people without a desktop (services, SSH): the
                            // terminal and the journal have told them.
                            Err(mamori_notify::NotifyError::NoSession { .. })
                            | Err(mamori_notify::NotifyError::NoAccount { .. }) => {}
                            Err(e) => eprintln!("mamori agent: pop-up for uid {uid}: {e}"),
                        }
                    }
                }
            })
            .expect("spawning the message thread");
        GateRecorder {
            gatekeeper,
            tell: tx,
        }
    }
}

/// One reason per person, their messages joined in the order they came.
fn gather_by_person(batch: Vec<(u32, String, String)>) -> Vec<(u32, Bilingual)> {
    let mut people: Vec<(u32, Bilingual)> = Vec::new();
    for (uid, ja, en) in batch {
        match people.iter_mut().find(|(u, _)| *u == uid) {
            Some((_, reason)) => {
                reason.ja = format!("{}\n{ja}", reason.ja);
                reason.en = format!("{}\n{en}", reason.en);
            }
            None => people.push((uid, Bilingual::new(ja, en))),
        }
    }
    people
}

impl Recorder for GateRecorder {
    fn record(&self, event: Event) {
        if let Err(e) = self.gatekeeper.record(event) {
            eprintln!("mamori agent: journal: {e}");
        }
    }

    fn tell_user(&self, uid: u32, ja: &str, en: &str) {
        let _ = self.tell.try_send((uid, ja.to_owned(), en.to_owned()));
    }
}

/// Writes `text` to every pseudo-terminal `uid` owns, without blocking.
fn write_to_terminals(uid: u32, text: &str) {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let Ok(entries) = std::fs::read_dir("/dev/pts") else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.uid() != uid || path.file_name().is_some_and(|n| n == "ptmx") {
            continue;
        }
        if let Ok(mut tty) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            let _ = writeln!(tty, "\r\n{}\r", text.replace('\n', "\r\n"));
        }
    }
}

fn show_status(gateway: &GatewayOptions, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let path = gateway.data_dir.resolve().join("agent-status.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "no agent has run with this data directory ({}) / エージェントは稼働していません",
                path.display()
            );
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let status: mamori_agent::status::Status =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let alive = Path::new(&format!("/proc/{}", status.pid)).exists();
    let age = (mamori_journal::now_ns() - status.time_ns) as f64 / 1e9;
    let running = alive && age < 10.0;
    if let StatusFormat::Json = args.format {
        let mut value = serde_json::to_value(&status)?;
        value["running"] = serde_json::Value::Bool(running);
        value["cache_hit_rate"] = serde_json::json!(status.hit_rate());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(if running {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    println!(
        "agent pid {}: {} (status {:.1} s old) / {}",
        status.pid,
        if running { "running" } else { "not running" },
        age,
        if running { "稼働中" } else { "停止" }
    );
    println!(
        "mode: {} / policy: {}",
        if status.enforcing {
            "enforcing (遮断あり)"
        } else {
            "audit only (記録のみ)"
        },
        status.policy
    );
    println!("watched / 監視対象: {}", status.watched.join(", "));
    for (mp, channel, why) in &status.controlled {
        println!("controlled / 管理対象: {mp} ({channel}, {why})");
    }
    println!("queue depths / キュー: {:?}", status.queue_depths);
    println!(
        "level cache / 分類キャッシュ: {} hits, {} misses ({:.1} % hit rate)",
        status.cache_hits,
        status.cache_misses,
        status.hit_rate() * 100.0
    );
    println!(
        "tainted / 機密を開いたプロセス: {} processes, {} groups",
        status.tainted.0, status.tainted.1
    );
    for (name, value) in &status.counters {
        println!("  {name:>18}: {value}");
    }
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

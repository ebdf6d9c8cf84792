//! `mamori device`: USB device control (list, check rules, generate rules for the devices
//! present, watch and enforce, and the break-glass `allow`).
//!
//! Rules are USBGuard's language plus a `read-only` target (`docs/device.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use mamori_device::rules::{RuleSet, Target};
use mamori_device::uevent::UeventSocket;
use mamori_device::{Controller, Outcome};
use mamori_journal::{Event, Journal, JournalOptions, Operation};
use mamori_model::{Action, Bilingual, Channel, Decision};

/// Arguments of `mamori device`.
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    command: DeviceCommand,
}

/// What to do with unlisted devices, as a flag.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DefaultTarget {
    Allow,
    ReadOnly,
    Block,
    Reject,
}

impl From<DefaultTarget> for Target {
    fn from(t: DefaultTarget) -> Target {
        match t {
            DefaultTarget::Allow => Target::Allow,
            DefaultTarget::ReadOnly => Target::ReadOnly,
            DefaultTarget::Block => Target::Block,
            DefaultTarget::Reject => Target::Reject,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
struct RulesOptions {
    /// The device rules file (USBGuard's language plus `read-only`) / デバイス規則ファイル
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// What happens to USB storage no rule lists / 規則にないデバイスの扱い
    #[arg(long = "default", value_enum, default_value = "read-only")]
    default_target: DefaultTarget,
    /// The sysfs root (a fake tree in tests).
    #[arg(long, value_name = "DIR", default_value = "/sys")]
    sysfs: PathBuf,
}

impl RulesOptions {
    fn load(&self) -> anyhow::Result<RuleSet> {
        let default = self.default_target.into();
        match &self.rules {
            None => Ok(RuleSet {
                rules: Vec::new(),
                default,
            }),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read device rules {}", path.display()))?;
                RuleSet::parse(&text, &path.display().to_string(), default)
                    .map_err(|e| anyhow::anyhow!("invalid device rules / デバイス規則の誤り:\n{e}"))
            }
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum DeviceCommand {
    /// List USB devices and what the rules decide for each / デバイスの一覧と判定
    List {
        #[command(flatten)]
        rules: RulesOptions,
    },
    /// Check a rules file: every error with its line and column / 規則ファイルの検査
    Check {
        /// The rules file.
        file: PathBuf,
    },
    /// Print rules allowing every device present now (run at install) / 接続中のデバイスを許可する規則を出力
    GenerateRules {
        /// The sysfs root.
        #[arg(long, value_name = "DIR", default_value = "/sys")]
        sysfs: PathBuf,
    },
    /// Enforce the rules: decide the devices present, then every device plugged in; record each
    /// in the journal / 規則を適用し続ける
    Watch {
        #[command(flatten)]
        rules: RulesOptions,
        /// The device directory.
        #[arg(long, value_name = "DIR", default_value = "/dev")]
        dev: PathBuf,
        /// Make new devices wait for a decision (`authorized_default` = 0 on the root hubs).
        #[arg(long)]
        hold_new: bool,
        /// Treat this block device (e.g. `loop3`) as the storage of a read-only stick (tests,
        /// and storage attached other than by USB).
        #[arg(long = "read-only-block", value_name = "NAME")]
        read_only_blocks: Vec<String>,
        /// Stop after this many seconds (for tests; default: run until stopped).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Do not record in the journal.
        #[arg(long)]
        no_journal: bool,
        #[command(flatten)]
        data_dir: crate::data_dir::DataDirArg,
    },
    /// Break glass: authorise one device now, whatever the rules say; recorded / 緊急時: デバイスを許可する
    Allow {
        /// The device's port (its sysfs name, as `list` shows: `1-1`).
        port: String,
        /// Why (recorded in the journal).
        #[arg(long)]
        reason: String,
        /// The sysfs root.
        #[arg(long, value_name = "DIR", default_value = "/sys")]
        sysfs: PathBuf,
        #[command(flatten)]
        data_dir: crate::data_dir::DataDirArg,
    },
}

/// Runs `mamori device`.
pub fn run(args: DeviceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DeviceCommand::List { rules } => {
            let set = rules.load()?;
            let devices = mamori_device::device::read_devices(&rules.sysfs)?;
            if devices.is_empty() {
                println!(
                    "no USB devices / USBデバイスはありません ({})",
                    rules.sysfs.display()
                );
            }
            for device in devices {
                let decision = set.decide(&device);
                let (_, en) = decision.reason();
                println!("{:<9} {}  ({en})", decision.target, device.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            match RuleSet::parse(&text, &file.display().to_string(), Target::Block) {
                Ok(set) => {
                    println!(
                        "{}: {} rules, valid / 正常",
                        file.display(),
                        set.rules.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        DeviceCommand::GenerateRules { sysfs } => {
            let devices = mamori_device::device::read_devices(&sysfs)?;
            print!("{}", RuleSet::allow_present(&devices));
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Watch {
            rules,
            dev,
            hold_new,
            read_only_blocks,
            duration,
            no_journal,
            data_dir,
        } => watch(
            &rules,
            &dev,
            hold_new,
            &read_only_blocks,
            duration,
            (!no_journal).then_some(&data_dir),
        ),
        DeviceCommand::Allow {
            port,
            reason,
            sysfs,
            data_dir,
        } => {
            let device = mamori_device::device::read_device(&sysfs, &port)?;
            mamori_device::control::apply(&sysfs, &port, Target::Allow)?;
            let journal = open_journal(&data_dir)?;
            let decision = Decision {
                action: Action::Allow,
                level: String::new(),
                rules: vec!["break-glass".into()],
                reason: Bilingual::new(
                    format!("緊急許可 (mamori device allow): {reason}"),
                    format!("break-glass allow (mamori device allow): {reason}"),
                ),
            };
            journal.append_durable(device_event(&device, decision, "break-glass"))?;
            println!("authorised / 許可しました: {}", device.describe());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_journal(data_dir: &crate::data_dir::DataDirArg) -> anyhow::Result<Journal> {
    let dir = data_dir.ensure()?;
    Journal::open(&dir, JournalOptions::default())
        .with_context(|| format!("cannot open the journal in {}", dir.display()))
}

fn device_event(
    device: &mamori_device::device::UsbDevice,
    decision: Decision,
    detail: &str,
) -> Event {
    Event::new(Operation::Device)
        .with_channel(Channel::RemovableMedia)
        .with_destination(mamori_journal::Destination {
            device_serial: Some(format!(
                "{}:{}",
                device.id(),
                device.serial.as_deref().unwrap_or("")
            )),
            ..Default::default()
        })
        .with_path(format!("usb:{}", device.port))
        .with_decision(decision)
        .with_detail(format!("{detail}: {}", device.describe()))
}

/// The journal's action for a device target: allow and read-only let the device work.
fn action_of(target: Target) -> Action {
    match target {
        Target::Allow => Action::Allow,
        Target::ReadOnly => Action::Notify,
        Target::Block | Target::Reject => Action::Block,
    }
}

/// The journal event for what device control did (`mamori device watch` and the agent alike;
/// the fields are documented in docs/device.md).
pub(crate) fn outcome_event(outcome: &Outcome) -> Event {
    match outcome {
        Outcome::Attached {
            device,
            decision,
            applied,
            error,
        } => {
            let (ja, en) = decision.reason();
            let rule = match &decision.because {
                mamori_device::rules::Because::Rule { line, .. } => format!("device-rule:{line}"),
                mamori_device::rules::Because::NeverRestricted => "never-restricted".into(),
                mamori_device::rules::Because::Default => "device-default".into(),
            };
            let detail = match (applied, error) {
                (_, Some(e)) => format!("attach, {} FAILED: {e}", decision.target),
                (Some(a), None) => format!("attach, {}: {a:?}", decision.target),
                (None, None) => format!("attach, {}", decision.target),
            };
            device_event(
                device,
                Decision {
                    action: action_of(decision.target),
                    level: String::new(),
                    rules: vec![rule],
                    reason: Bilingual::new(ja, en),
                },
                &detail,
            )
        }
        Outcome::Detached { port } => Event::new(Operation::Device)
            .with_channel(Channel::RemovableMedia)
            .with_path(format!("usb:{port}"))
            .with_detail("detach"),
        Outcome::MadeReadOnly {
            dev,
            port,
            remounted,
            error,
        } => {
            let mut event = Event::new(Operation::Mount)
                .with_channel(Channel::RemovableMedia)
                .with_path(dev.display().to_string());
            let list: Vec<String> = remounted.iter().map(|p| p.display().to_string()).collect();
            event = event.with_detail(match error {
                Some(e) => format!("read-only for usb:{port} FAILED: {e}"),
                None => format!(
                    "read-only for usb:{port}; remounted read-only: [{}]",
                    list.join(", ")
                ),
            });
            event
        }
    }
}

fn watch(
    options: &RulesOptions,
    dev: &Path,
    hold_new: bool,
    read_only_blocks: &[String],
    duration: Option<u64>,
    data_dir: Option<&crate::data_dir::DataDirArg>,
) -> anyhow::Result<ExitCode> {
    let rules = options.load()?;
    let journal = data_dir.map(open_journal).transpose()?;
    // Listen before deciding what is present, so nothing plugged in between is missed.
    let socket = UeventSocket::open().context("cannot listen to kernel uevents (root needed)")?;
    let mut controller = Controller::new(rules, &options.sysfs, dev);
    for name in read_only_blocks {
        controller.treat_block_as_read_only(name);
    }
    if hold_new {
        let hubs = mamori_device::control::hold_new_devices(&options.sysfs)?;
        eprintln!(
            "mamori device: new devices wait for a decision on {}",
            hubs.join(", ")
        );
    }
    let record = |outcome: &Outcome| -> anyhow::Result<()> {
        let event = outcome_event(outcome);
        println!(
            "{} {}",
            event.detail.as_deref().unwrap_or(""),
            event
                .decision
                .as_ref()
                .map(|d| d.reason.en.as_str())
                .unwrap_or("")
        );
        if let Some(journal) = &journal {
            journal.append_durable(event)?;
        }
        Ok(())
    };
    for outcome in controller.decide_present()? {
        record(&outcome)?;
    }
    // Every outcome is journalled durably as it happens, so being stopped by a signal at any
    // moment loses nothing recorded.
    let until = duration.map(|s| std::time::Instant::now() + Duration::from_secs(s));
    eprintln!("mamori device: watching / 監視中");
    while until.is_none_or(|u| std::time::Instant::now() < u) {
        let Some(event) = socket.next(Duration::from_millis(250))? else {
            continue;
        };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for outcome in controller.on_uevent(&event, &mountinfo) {
            record(&outcome)?;
        }
    }
    if let Some(journal) = &journal {
        journal.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

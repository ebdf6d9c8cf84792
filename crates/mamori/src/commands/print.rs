//! `mamori print`: put CUPS queues under Mamori's control, and the CUPS backend itself.
//!
//! `mamori print install QUEUE` installs the backend (`/usr/lib/cups/backend/mamori`, mode
//! 0700 so that cupsd runs it as root and it can read the spool and the data directory),
//! hardens `cupsd.conf` so that the job owner is the authenticated user, and points the queue
//! at `mamori:<its device URI>`. cupsd then runs `mamori print backend` for each job: the
//! submitted document is inspected and decided, the event journalled, and the job either goes
//! to the real backend unchanged or is cancelled (exit 5) with the reason as its state message.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mamori_print::backend::{redact_uri, spool_document, status_line};
use mamori_print::cupsd_conf;
use mamori_print::job::MAX_DOCUMENTS;
use mamori_print::{
    BackendEnv, Document, ExitStatus, GatekeeperControl, Invocation, Outcome, PrintJob, WrappedUri,
};

use crate::commands::gateway::GatewayOptions;

/// The first line after the shebang of the backend script, by which install and uninstall
/// recognise their own file.
const SCRIPT_MARK: &str = "# Mamori print backend: written by `mamori print install`, removed by `mamori print uninstall`.";

/// Longest `ERROR:` line written for cupsd (the job's state message is IPP text, at most
/// 1023 bytes).
const MAX_STATUS_LINE: usize = 1000;

/// Arguments of `mamori print`.
#[derive(Debug, clap::Args)]
pub struct PrintArgs {
    #[command(subcommand)]
    command: PrintCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PrintCommand {
    /// Put a CUPS queue under Mamori's control / プリンターを Mamori の管理下に置く
    Install(InstallArgs),
    /// Give a queue its own device back / プリンターを Mamori の管理から外す
    Uninstall(UninstallArgs),
    /// Show which queues Mamori controls / 管理下のプリンターを表示する
    Status(StatusArgs),
    /// The CUPS backend; cupsd runs it for each job (not for people) / CUPS バックエンド
    #[command(hide = true)]
    Backend(BackendArgs),
}

/// Where CUPS keeps its files; parameters so that tests can use a private cupsd. The CUPS
/// client programs (`lpstat`, `lpadmin`) find the server through `CUPS_SERVER` as usual.
#[derive(Debug, Clone, clap::Args)]
struct CupsPaths {
    /// CUPS's backend directory.
    #[arg(long, value_name = "DIR", default_value = "/usr/lib/cups/backend")]
    backend_dir: PathBuf,
    /// cupsd's configuration file.
    #[arg(long, value_name = "FILE", default_value = "/etc/cups/cupsd.conf")]
    cupsd_conf: PathBuf,
    /// The `<Policy>` of cupsd.conf to harden (the queues' operation policy).
    #[arg(long, value_name = "NAME", default_value = "default")]
    cups_policy: String,
    /// cupsd's pid file: cupsd is sent SIGHUP to reload cupsd.conf after a change (a cupsd
    /// that is not running reads it when it starts).
    #[arg(long, value_name = "FILE", default_value = "/run/cups/cupsd.pid")]
    cupsd_pid_file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The CUPS queue.
    printer: String,
    #[command(flatten)]
    cups: CupsPaths,
    /// Leave cupsd.conf alone: job owners then stay whatever clients claim (`lp -U`).
    #[arg(long)]
    no_harden: bool,
    /// The mamori executable the backend runs [default: this one].
    #[arg(long, value_name = "FILE")]
    mamori: Option<PathBuf>,
    /// The inspection, policy and journal options the backend runs with.
    #[command(flatten)]
    gateway: GatewayOptions,
}

#[derive(Debug, clap::Args)]
struct UninstallArgs {
    /// The CUPS queue.
    printer: String,
    #[command(flatten)]
    cups: CupsPaths,
    /// Where the change is journalled.
    #[command(flatten)]
    data_dir: crate::data_dir::DataDirArg,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    cups: CupsPaths,
}

#[derive(Debug, clap::Args)]
struct BackendArgs {
    #[command(flatten)]
    gateway: GatewayOptions,
    /// Where users' runtime directories are: the pop-up for a cancelled job goes to the owner's
    /// session bus DIR/UID/bus / 利用者ランタイムディレクトリの場所
    #[arg(long, value_name = "DIR", default_value = mamori_notify::DEFAULT_RUNTIME_ROOT)]
    user_runtime_dir: PathBuf,
    /// What cupsd passed: job-id user title copies options [file].
    #[arg(last = true, value_name = "ARGS")]
    argv: Vec<OsString>,
}

/// Runs `mamori print`.
pub fn run(args: PrintArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PrintCommand::Install(args) => install(args),
        PrintCommand::Uninstall(args) => uninstall(args),
        PrintCommand::Status(args) => status(args),
        PrintCommand::Backend(args) => Ok(backend(args)),
    }
}

// ---------------------------------------------------------------------------------------------
// The backend.
// ---------------------------------------------------------------------------------------------

/// Writes one status line for cupsd.
fn say(prefix: &str, message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", status_line(prefix, message, MAX_STATUS_LINE));
    let _ = stderr.flush();
}

fn backend(args: BackendArgs) -> ExitCode {
    let exit = |status: ExitStatus| ExitCode::from(status.code());
    let job_args = match Invocation::parse(&args.argv) {
        Ok(Invocation::Discover) => return exit(ExitStatus::Ok),
        Ok(Invocation::Job(job)) => job,
        Err(error) => {
            say("ERROR", &format!("Mamori: {error}"));
            return exit(ExitStatus::Failed);
        }
    };
    let env = BackendEnv::from_vars(std::env::vars_os());
    let uri = match env.wrapped_uri() {
        Ok(uri) => uri,
        Err(error) => {
            say("ERROR", &format!("Mamori: {error}"));
            return exit(ExitStatus::Failed);
        }
    };
    let printer = env.printer.clone().unwrap_or_default();
    // Mamori itself failing must neither print uninspected nor lose the job: hold it for an
    // administrator, who releases it once Mamori works again.
    let hold = |what: &str, error: &dyn std::fmt::Display| {
        say(
            "ERROR",
            &format!("Mamori: {what}; ジョブを保留しました / the job is held: {error}"),
        );
        exit(ExitStatus::Hold)
    };
    // Inspect and decide without the journal, then open it just to record (see `record`):
    // jobs on other queues run at the same time, and the journal has one holder.
    let recording = !args.gateway.no_journal;
    let options = GatewayOptions {
        no_journal: true,
        ..args.gateway.clone()
    };
    let gatekeeper = match options.build() {
        Ok(gatekeeper) => gatekeeper,
        Err(error) => {
            return hold(
                "検査を準備できません / cannot start inspection",
                &format!("{error:#}"),
            );
        }
    };

    let job = PrintJob {
        documents_skipped: u32::from(
            spool_document(&env.request_root(), job_args.job_id, MAX_DOCUMENTS + 1).exists(),
        ),
        ..PrintJob::from_backend(
            &job_args,
            printer.clone(),
            principal(&job_args.user),
            documents(&env, &job_args),
        )
    };
    let (mut verdict, event) = GatekeeperControl::new(&gatekeeper).decide(&job);
    if recording {
        match record(&args.gateway.data_dir, event) {
            Ok(id) => verdict.event = Some(id),
            Err(error) => return hold("記録できません / cannot record", &format!("{error:#}")),
        }
    }
    let message = verdict.message();
    let decision = &verdict.judgement.decision;
    say(
        "DEBUG",
        &format!(
            "mamori: job {} user {} printer {printer}: level {} action {} rule {} found [{}]",
            job.id,
            job.principal.user,
            verdict.judgement.level,
            decision.action,
            decision.rules.first().map_or("-", String::as_str),
            verdict.judgement.detector_summary().join(", ")
        ),
    );
    match verdict.outcome {
        Outcome::Refuse => {
            say("ERROR", &format!("Mamori: {} / {}", message.ja, message.en));
            tell_owner(
                &args.user_runtime_dir,
                &job.principal,
                &printer,
                &job.title,
                &message,
            );
            exit(ExitStatus::Cancel)
        }
        Outcome::Print => {
            if decision.action.is_warning() {
                say("INFO", &format!("Mamori: {} / {}", message.ja, message.en));
            }
            let error = exec_real_backend(&env, &uri, &args.argv);
            say(
                "ERROR",
                &format!(
                    "Mamori: プリンターのバックエンドを起動できません / cannot run the printer's backend {}: {error:#}",
                    uri.scheme
                ),
            );
            exit(ExitStatus::Failed)
        }
    }
}

/// A desktop pop-up to the job's owner when they are a local account with a graphical session
/// (the `lpstat` state message is there either way). Best effort, bounded by the messenger's
/// timeout.
fn tell_owner(
    runtime_dir: &Path,
    owner: &mamori_policy::Principal,
    printer: &str,
    title: &str,
    message: &mamori_model::Bilingual,
) {
    let Some(uid) = owner.uid else { return };
    let reason = mamori_model::Bilingual::new(
        format!(
            "印刷ジョブ「{title}」({printer}) を中止しました。{}",
            message.ja
        ),
        format!(
            "Print job \"{title}\" on {printer} was cancelled. {}",
            message.en
        ),
    );
    let notice = mamori_notify::Notice::refusal(reason);
    match super::notify::messenger(runtime_dir.to_owned()).tell(uid, &notice) {
        Ok(_) => say("DEBUG", &format!("mamori: told uid {uid} on the desktop")),
        Err(error) => say(
            "DEBUG",
            &format!("mamori: no pop-up for uid {uid}: {error}"),
        ),
    }
}

/// Appends the event to the data directory's journal and makes it durable. The journal has one
/// holder per data directory and other openers relay their events to it; jobs on several queues
/// run at once, so the holder may be another job's backend that is just closing: then the
/// append fails (never silently) and is tried again, as holder or through the new one, for up
/// to a minute. A retried event keeps its id, so the store cannot count it twice.
fn record(
    data_dir: &crate::data_dir::DataDirArg,
    event: mamori_journal::Event,
) -> anyhow::Result<mamori_journal::EventId> {
    let dir = data_dir.ensure()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = (|| -> Result<_, mamori_journal::JournalError> {
            let journal =
                mamori_journal::Journal::open(&dir, mamori_journal::JournalOptions::default())?;
            let id = journal.append_durable(event.clone())?;
            journal.flush()?;
            drop(journal); // as holder: signs the final checkpoint and releases the lock
            Ok(id)
        })();
        match attempt {
            Ok(id) => return Ok(id),
            Err(error) if Instant::now() < deadline && retryable(&error) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("cannot record in the journal in {}", dir.display())));
            }
        }
    }
}

/// Errors worth another try: the journal held by a process that is going away. Its relay
/// fails with `Failed` (the holder closing) or with an I/O error on the relay socket (the
/// holder gone mid-exchange); a failing disk is `Failed` too, and is held after the minute.
fn retryable(error: &mamori_journal::JournalError) -> bool {
    use mamori_journal::JournalError;
    match error {
        JournalError::Locked { .. } | JournalError::Failed(_) => true,
        // The relay socket, `journal/append.sock` (the journal crate's private `SOCKET_NAME`).
        JournalError::Io { path, .. } => {
            path.file_name() == Some(std::ffi::OsStr::new("append.sock"))
        }
        _ => false,
    }
}

/// The job's owner with uid and groups, when it is a local account.
fn principal(user: &str) -> mamori_policy::Principal {
    let mut principal = mamori_policy::Principal::new(user);
    if let Ok(Some(account)) = nix::unistd::User::from_name(user) {
        principal.uid = Some(account.uid.as_raw());
        if let Ok(name) = std::ffi::CString::new(user)
            && let Ok(gids) = nix::unistd::getgrouplist(&name, account.gid)
        {
            principal.groups = gids
                .into_iter()
                .map(|gid| match nix::unistd::Group::from_gid(gid) {
                    Ok(Some(group)) => group.name,
                    _ => gid.to_string(),
                })
                .collect();
            principal.groups.sort();
            principal.groups.dedup();
        }
    }
    principal
}

/// The documents the user submitted, from the spool (`dNNNNN-001`, `-002`...); the print file
/// CUPS passed when the spool has none (a layout Mamori does not know).
fn documents(env: &BackendEnv, job: &mamori_print::JobArgs) -> Vec<Document> {
    let root = env.request_root();
    let mut out = Vec::new();
    for n in 1..=MAX_DOCUMENTS {
        let path = spool_document(&root, job.job_id, n);
        if !path.is_file() {
            break;
        }
        out.push(Document { name: None, path });
    }
    if out.is_empty()
        && let Some(file) = &job.file
    {
        out.push(Document {
            name: None,
            path: file.clone(),
        });
    }
    if out.len() == 1 {
        out[0].name = job
            .options
            .get("document-name-supplied")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
    }
    out
}

/// Replaces this process with the real backend, with the real URI and the same arguments
/// and standard input. It runs as cupsd would have run it: as root only when it has no group
/// or other permissions, else as cups-files.conf's `User` (and the group cupsd gave us).
/// Returns only on failure.
fn exec_real_backend(env: &BackendEnv, uri: &WrappedUri, argv: &[OsString]) -> anyhow::Error {
    let path = uri.backend_path(&env.backend_dir());
    let meta = match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return anyhow::anyhow!("{} is not a file", path.display()),
        Err(error) => return anyhow::Error::new(error).context(path.display().to_string()),
    };
    let mut command = Command::new(&path);
    command
        .arg0(redact_uri(&uri.inner))
        .args(argv)
        .env("DEVICE_URI", &uri.inner);
    if meta.mode() & 0o077 != 0 && rustix::process::geteuid().is_root() {
        match cups_run_user() {
            Ok(uid) => {
                command.uid(uid).gid(rustix::process::getgid().as_raw());
            }
            Err(error) => return error,
        }
    }
    anyhow::Error::new(command.exec()).context(path.display().to_string())
}

/// The uid of cups-files.conf's `User` (`lp` unless set).
fn cups_run_user() -> anyhow::Result<u32> {
    let server_root = std::env::var_os("CUPS_SERVERROOT")
        .map_or_else(|| PathBuf::from("/etc/cups"), PathBuf::from);
    let conf = std::fs::read_to_string(server_root.join("cups-files.conf")).unwrap_or_default();
    let name = conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("User"))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(|rest| rest.trim().to_owned())
        .next_back()
        .unwrap_or_else(|| "lp".to_owned());
    if let Some(number) = name.strip_prefix('#') {
        return number.parse().context("bad User in cups-files.conf");
    }
    nix::unistd::User::from_name(&name)
        .ok()
        .flatten()
        .map(|user| user.uid.as_raw())
        .with_context(|| format!("unknown CUPS user `{name}`"))
}

// ---------------------------------------------------------------------------------------------
// install / uninstall / status.
// ---------------------------------------------------------------------------------------------

/// Runs a CUPS client program in the C locale; its standard output on success.
fn cups_client(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .output()
        .with_context(|| format!("cannot run {program} (is cups-client installed?)"))?;
    if !output.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Every queue and its device URI, from `lpstat -v`.
fn device_uris() -> anyhow::Result<Vec<(String, String)>> {
    let out = cups_client("lpstat", &["-v"])?;
    Ok(parse_lpstat_v(&out))
}

/// Parses `lpstat -v` (C locale): `device for NAME: URI`.
fn parse_lpstat_v(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|line| line.strip_prefix("device for "))
        .filter_map(|rest| rest.split_once(": "))
        .map(|(name, uri)| (name.to_owned(), uri.trim().to_owned()))
        .collect()
}

fn device_uri(printer: &str) -> anyhow::Result<String> {
    device_uris()?
        .into_iter()
        .find(|(name, _)| name == printer)
        .map(|(_, uri)| uri)
        .with_context(|| {
            format!("no CUPS queue named `{printer}` / プリンター `{printer}` がありません")
        })
}

/// Single-quotes a word for `sh`.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The backend script: the mamori executable with the options baked in (cupsd runs backends
/// with a clean environment).
fn backend_script(mamori: &Path, gateway: &GatewayOptions) -> anyhow::Result<String> {
    let mut words = vec![
        sh_quote(&mamori.display().to_string()),
        "print".into(),
        "backend".into(),
    ];
    let mut flag = |name: &str, value: &Path| -> anyhow::Result<()> {
        let value = std::path::absolute(value)?;
        words.push(name.to_owned());
        words.push(sh_quote(&value.display().to_string()));
        Ok(())
    };
    flag("--data-dir", &gateway.data_dir.resolve())?;
    if let Some(policy) = &gateway.policy {
        flag("--policy", policy)?;
    }
    for rules in &gateway.rules {
        flag("--rules", rules)?;
    }
    if gateway.no_fingerprints {
        words.push("--no-fingerprints".into());
    }
    if gateway.no_journal {
        words.push("--no-journal".into());
    }
    words.push(format!("--max-filesize {}", gateway.max_filesize));
    words.push(format!("--timeout {}", gateway.timeout));
    Ok(format!(
        "#!/bin/sh\n{SCRIPT_MARK}\nexec {} -- \"$@\"\n",
        words.join(" ")
    ))
}

/// Writes `contents` to `path` through a temporary file and a rename, with `mode`, keeping the
/// owner and group of an existing file.
fn write_atomic(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("no parent directory")?;
    let owner = std::fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
    let tmp = dir.join(format!(
        ".{}.mamori-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let result = (|| -> anyhow::Result<()> {
        file.write_all(contents.as_bytes())?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Rewrites cupsd.conf with `change` and makes cupsd reload it; true when it changed.
fn change_cupsd_conf(
    cups: &CupsPaths,
    change: impl FnOnce(&str) -> anyhow::Result<String>,
) -> anyhow::Result<bool> {
    let path = &cups.cupsd_conf;
    let before =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let after = change(&before)?;
    if after == before {
        return Ok(false);
    }
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    write_atomic(path, &after, mode)?;
    reload_cupsd(cups)?;
    Ok(true)
}

/// SIGHUP to a running cupsd, then waits until it answers again.
fn reload_cupsd(cups: &CupsPaths) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(&cups.cupsd_pid_file) else {
        return Ok(()); // not running: it reads the file when it starts
    };
    let Some(pid) = text
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Ok(());
    };
    if rustix::process::kill_process(pid, rustix::process::Signal::HUP).is_err() {
        return Ok(()); // a stale pid file
    }
    // cupsd restarts on SIGHUP; wait for the scheduler to answer again.
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if cups_client("lpstat", &["-r"]).is_ok_and(|out| out.contains("is running")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("cupsd did not come back after reloading cupsd.conf");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    if !rustix::process::geteuid().is_root() {
        bail!("mamori print install must run as root / root で実行してください");
    }
    let printer = &args.printer;
    let uri = device_uri(printer)?;
    // Check the options now: a backend that cannot start would hold every job.
    args.gateway
        .build()
        .context("the backend could not start with these options")?;

    let mut changes = Vec::new();
    // 1. The backend.
    let mamori = match &args.mamori {
        Some(path) => std::path::absolute(path)?,
        None => std::env::current_exe()?.canonicalize()?,
    };
    let script_path = args.cups.backend_dir.join(mamori_print::backend::SCHEME);
    let script = backend_script(&mamori, &args.gateway)?;
    if std::fs::read_to_string(&script_path).ok().as_deref() != Some(script.as_str()) {
        write_atomic(&script_path, &script, 0o700)?;
        println!(
            "backend: {} / バックエンドを設置しました",
            script_path.display()
        );
        changes.push(format!("backend {}", script_path.display()));
    }

    // 2. cupsd.conf.
    if !args.no_harden {
        let changed = change_cupsd_conf(&args.cups, |conf| {
            Ok(cupsd_conf::harden(conf, &args.cups.cups_policy)?)
        })?;
        if changed {
            println!(
                "cupsd.conf: print operations need an authenticated user / 印刷操作に認証を必須にしました ({})",
                args.cups.cupsd_conf.display()
            );
            changes.push(format!("hardened {}", args.cups.cupsd_conf.display()));
        }
    }

    // 3. The queue.
    if WrappedUri::is_wrapped(&uri) {
        println!("{printer}: already under Mamori's control / 設定済みです");
    } else {
        let wrapped = WrappedUri::wrap(&uri);
        cups_client("lpadmin", &["-p", printer, "-v", &wrapped])?;
        println!(
            "{printer}: {} -> {} / Mamori の管理下に置きました",
            redact_uri(&uri),
            redact_uri(&wrapped)
        );
        changes.push(format!("{printer} -> {}", redact_uri(&wrapped)));
    }
    journal_change(&args.gateway.data_dir, "install", printer, &changes)?;
    Ok(ExitCode::SUCCESS)
}

/// Journals what `install` or `uninstall` changed (nothing when nothing changed): who took a
/// queue out of Mamori's control is evidence too.
fn journal_change(
    data_dir: &crate::data_dir::DataDirArg,
    what: &str,
    printer: &str,
    changes: &[String],
) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let uid = rustix::process::getuid().as_raw();
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name);
    let event = mamori_journal::Event::new(mamori_journal::Operation::Service)
        .with_user(mamori_journal::User { uid, name })
        .with_destination(mamori_journal::Destination {
            printer: Some(printer.to_owned()),
            ..Default::default()
        })
        .with_detail(format!("print {what}: {}", changes.join("; ")));
    record(data_dir, event).context("cannot journal the change")?;
    Ok(())
}

fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    if !rustix::process::geteuid().is_root() {
        bail!("mamori print uninstall must run as root / root で実行してください");
    }
    let printer = &args.printer;
    let uri = device_uri(printer)?;
    let mut changes = Vec::new();
    if let Ok(wrapped) = WrappedUri::parse(&uri) {
        cups_client("lpadmin", &["-p", printer, "-v", &wrapped.inner])?;
        println!(
            "{printer}: {} / Mamori の管理から外しました",
            redact_uri(&wrapped.inner)
        );
        changes.push(format!("{printer} -> {}", redact_uri(&wrapped.inner)));
    } else {
        println!("{printer}: not under Mamori's control / 管理下にありません");
    }
    // The backend and the hardening stay while another queue still uses them.
    let others: Vec<String> = device_uris()?
        .into_iter()
        .filter(|(name, uri)| name != printer && WrappedUri::is_wrapped(uri))
        .map(|(name, _)| name)
        .collect();
    if !others.is_empty() {
        println!(
            "backend and cupsd.conf kept for / 他の管理下プリンター: {}",
            others.join(", ")
        );
        journal_change(&args.data_dir, "uninstall", printer, &changes)?;
        return Ok(ExitCode::SUCCESS);
    }
    if std::fs::read_to_string(&args.cups.cupsd_conf).is_ok_and(|c| cupsd_conf::is_hardened(&c)) {
        change_cupsd_conf(&args.cups, |conf| Ok(cupsd_conf::unharden(conf)))?;
        println!(
            "cupsd.conf: restored / 元に戻しました ({})",
            args.cups.cupsd_conf.display()
        );
        changes.push(format!("restored {}", args.cups.cupsd_conf.display()));
    }
    let script_path = args.cups.backend_dir.join(mamori_print::backend::SCHEME);
    if std::fs::read_to_string(&script_path).is_ok_and(|s| s.contains(SCRIPT_MARK)) {
        std::fs::remove_file(&script_path)
            .with_context(|| format!("cannot remove {}", script_path.display()))?;
        println!(
            "backend: removed / 削除しました ({})",
            script_path.display()
        );
        changes.push(format!("removed {}", script_path.display()));
    }
    journal_change(&args.data_dir, "uninstall", printer, &changes)?;
    Ok(ExitCode::SUCCESS)
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let script_path = args.cups.backend_dir.join(mamori_print::backend::SCHEME);
    let script = std::fs::read_to_string(&script_path).ok();
    println!(
        "backend / バックエンド: {}",
        match &script {
            Some(s) if s.contains(SCRIPT_MARK) => format!("{} (installed)", script_path.display()),
            Some(_) => format!("{} (not Mamori's)", script_path.display()),
            None => "not installed / 未設置".to_owned(),
        }
    );
    let hardened =
        std::fs::read_to_string(&args.cups.cupsd_conf).map(|c| cupsd_conf::is_hardened(&c));
    println!(
        "cupsd.conf: {}",
        match hardened {
            Ok(true) => "job owners authenticated / 印刷に認証が必要",
            Ok(false) => "not hardened: `lp -U` can name any owner / 未設定",
            Err(_) => "unreadable / 読めません",
        }
    );
    for (name, uri) in device_uris()? {
        match WrappedUri::parse(&uri) {
            Ok(wrapped) => println!(
                "{name}\tcontrolled / 管理下\t{}",
                redact_uri(&wrapped.inner)
            ),
            Err(_) => println!("{name}\tnot controlled / 管理外\t{}", redact_uri(&uri)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lpstat_v_output() {
        let out = "device for floor3: mamori:ipp://10.0.0.5/ipp/print\ndevice for q: socket://h:9100\nsomething else\n";
        assert_eq!(
            parse_lpstat_v(out),
            vec![
                (
                    "floor3".to_owned(),
                    "mamori:ipp://10.0.0.5/ipp/print".to_owned()
                ),
                ("q".to_owned(), "socket://h:9100".to_owned()),
            ]
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("/usr/bin/mamori"), "'/usr/bin/mamori'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}

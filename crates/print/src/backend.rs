//! What CUPS hands a backend, and what a backend answers.
//!
//! CUPS runs a backend as `backend job-id user title copies options [file]` with the device
//! URI in `DEVICE_URI` (here `mamori:<the real URI>`), the queue in `PRINTER` and its spool
//! directory in `CUPS_REQUESTROOT`; with no arguments it asks the backend to list devices.
//! The backend answers with its exit status (`cups/backend.h`) and with `ERROR:`/`INFO:` lines on
//! standard error, which cupsd turns into the job's state message.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::options::{Options, OptionsError};

/// The URI scheme of Mamori's wrapping backend.
pub const SCHEME: &str = "mamori";

/// Exit statuses of a CUPS backend (`cups/backend.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// `CUPS_BACKEND_OK`: the job was sent.
    Ok = 0,
    /// `CUPS_BACKEND_FAILED`: the job failed; the printer's error policy applies.
    Failed = 1,
    /// `CUPS_BACKEND_HOLD`: hold the job (an administrator releases it).
    Hold = 3,
    /// `CUPS_BACKEND_CANCEL`: cancel this job only; the printer stays enabled.
    Cancel = 5,
}

impl ExitStatus {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a backend invocation could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvocationError {
    /// Not the 0, 5 or 6 arguments CUPS passes.
    #[error(
        "usage: mamori job-id user title copies options [file] ({0} arguments given) / 引数の数が不正です"
    )]
    Usage(usize),
    /// `job-id` or `copies` is not a positive number.
    #[error("bad {what} `{value}` / {what} が不正です")]
    BadNumber {
        /// Which argument.
        what: &'static str,
        /// What it was.
        value: String,
    },
    /// `DEVICE_URI` is missing.
    #[error("DEVICE_URI is not set / DEVICE_URI が設定されていません")]
    NoDeviceUri,
    /// `DEVICE_URI` does not wrap a real device URI.
    #[error("bad device URI `{0}`: expected mamori:SCHEME:... / デバイス URI が不正です")]
    BadDeviceUri(String),
    /// The options argument could not be parsed.
    #[error("{0}")]
    Options(#[from] OptionsError),
}

/// A device URI wrapped by Mamori: `mamori:ipp://printer.example/ipp/print`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedUri {
    /// The real device URI, given to the real backend as `DEVICE_URI`.
    pub inner: String,
    /// The real URI's scheme: the name of the real backend (`ipp`, `socket`, `usb`...).
    pub scheme: String,
}

impl WrappedUri {
    /// Reads `mamori:<uri>`. The inner scheme names an executable in CUPS's backend directory,
    /// so it is checked strictly: lower-case letters, digits, `+ - .`, at most 32 bytes, never
    /// `mamori` again.
    pub fn parse(device_uri: &str) -> Result<WrappedUri, InvocationError> {
        let bad = || InvocationError::BadDeviceUri(redact_uri(device_uri));
        let inner = device_uri
            .strip_prefix(SCHEME)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(bad)?;
        let scheme = uri_scheme(inner).ok_or_else(bad)?;
        if scheme == SCHEME {
            return Err(bad());
        }
        Ok(WrappedUri {
            inner: inner.to_owned(),
            scheme: scheme.to_owned(),
        })
    }

    /// `mamori:<uri>`.
    pub fn wrap(inner: &str) -> String {
        format!("{SCHEME}:{inner}")
    }

    /// True when `device_uri` is already wrapped by Mamori.
    pub fn is_wrapped(device_uri: &str) -> bool {
        device_uri
            .strip_prefix(SCHEME)
            .is_some_and(|rest| rest.starts_with(':'))
    }

    /// The real backend's executable in `backend_dir` (`/usr/lib/cups/backend/ipp`).
    pub fn backend_path(&self, backend_dir: &Path) -> PathBuf {
        backend_dir.join(&self.scheme)
    }
}

/// The scheme of a URI, if it is one a backend can be named after.
pub fn uri_scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme.len() <= 32
        && scheme.as_bytes()[0].is_ascii_lowercase()
        && scheme.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        });
    valid.then_some(scheme)
}

/// A URI with any password left out (`ipp://user:secret@host/` → `ipp://user@host/`), for
/// messages and listings.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{}", &rest[authority_end..])
        }
        None => uri.to_owned(),
    }
}

/// The arguments of one job, as CUPS passes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobArgs {
    /// The job id.
    pub job_id: u32,
    /// The job's owner (`job-originating-user-name`).
    pub user: String,
    /// The job's title (`job-name`).
    pub title: String,
    /// Copies requested.
    pub copies: u32,
    /// The job's options (`job-originating-host-name`, `document-name-supplied`, ...).
    pub options: Options,
    /// The print file, when CUPS passes one (a single-document job with no filters); else the
    /// data comes on standard input.
    pub file: Option<PathBuf>,
}

/// How CUPS ran the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// No arguments: list the devices this backend can reach (Mamori lists none: it only wraps
    /// queues set up by `mamori print install`).
    Discover,
    /// Print one job.
    Job(JobArgs),
}

impl Invocation {
    /// Reads the arguments after `argv[0]`.
    pub fn parse(args: &[OsString]) -> Result<Invocation, InvocationError> {
        match args.len() {
            0 => return Ok(Invocation::Discover),
            5 | 6 => {}
            n => return Err(InvocationError::Usage(n)),
        }
        let text = |i: usize| args[i].to_string_lossy().into_owned();
        let number = |i: usize, what: &'static str| {
            let value = text(i);
            match value.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(InvocationError::BadNumber { what, value }),
            }
        };
        Ok(Invocation::Job(JobArgs {
            job_id: number(0, "job-id")?,
            user: text(1),
            title: text(2),
            copies: number(3, "copies")?,
            options: Options::parse(&text(4))?,
            file: args.get(5).map(PathBuf::from),
        }))
    }
}

/// The environment CUPS gives a backend, as far as Mamori uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendEnv {
    /// `DEVICE_URI`.
    pub device_uri: Option<String>,
    /// `PRINTER`: the queue name.
    pub printer: Option<String>,
    /// `CUPS_REQUESTROOT`: the spool directory.
    pub request_root: Option<PathBuf>,
    /// `CUPS_SERVERBIN`: holds `backend/`.
    pub server_bin: Option<PathBuf>,
    /// `CONTENT_TYPE`: the submitted document's MIME type.
    pub content_type: Option<String>,
}

impl BackendEnv {
    /// Picks the variables out of an environment.
    pub fn from_vars<I, K, V>(vars: I) -> BackendEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env = BackendEnv::default();
        for (key, value) in vars {
            let (key, value) = (key.into(), value.into());
            let text = || value.to_string_lossy().into_owned();
            match key.to_str() {
                Some("DEVICE_URI") => env.device_uri = Some(text()),
                Some("PRINTER") => env.printer = Some(text()),
                Some("CUPS_REQUESTROOT") => env.request_root = Some(PathBuf::from(&value)),
                Some("CUPS_SERVERBIN") => env.server_bin = Some(PathBuf::from(&value)),
                Some("CONTENT_TYPE") => env.content_type = Some(text()),
                _ => {}
            }
        }
        env
    }

    /// The wrapped device URI.
    pub fn wrapped_uri(&self) -> Result<WrappedUri, InvocationError> {
        WrappedUri::parse(
            self.device_uri
                .as_deref()
                .ok_or(InvocationError::NoDeviceUri)?,
        )
    }

    /// The spool directory (`/var/spool/cups` when CUPS did not say).
    pub fn request_root(&self) -> PathBuf {
        self.request_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/spool/cups"))
    }

    /// The backend directory (`/usr/lib/cups/backend` when CUPS did not say).
    pub fn backend_dir(&self) -> PathBuf {
        self.server_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from("/usr/lib/cups"))
            .join("backend")
    }
}

/// The spool file of a job's `n`th document (from 1): `dNNNNN-NNN`.
pub fn spool_document(request_root: &Path, job_id: u32, n: u32) -> PathBuf {
    request_root.join(format!("d{job_id:05}-{n:03}"))
}

/// One line for a backend's standard error, which cupsd reads (`ERROR:`, `INFO:`...): the
/// message with line breaks folded to spaces and cut at `max` bytes on a character boundary.
pub fn status_line(prefix: &str, message: &str, max: usize) -> String {
    let mut line = format!("{prefix}: ");
    for c in message.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if line.len() + c.len_utf8() > max {
            break;
        }
        line.push(c);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn job_arguments() {
        assert_eq!(Invocation::parse(&[]), Ok(Invocation::Discover));
        let Invocation::Job(job) = Invocation::parse(&args(&[
            "12",
            "tanaka",
            "月次報告.pdf",
            "2",
            "job-originating-host-name=pc12 mamori-justification='監査対応'",
        ]))
        .unwrap() else {
            panic!("expected a job");
        };
        assert_eq!(job.job_id, 12);
        assert_eq!(job.user, "tanaka");
        assert_eq!(job.title, "月次報告.pdf");
        assert_eq!(job.copies, 2);
        assert_eq!(job.options.get("job-originating-host-name"), Some("pc12"));
        assert_eq!(job.options.get("mamori-justification"), Some("監査対応"));
        assert_eq!(job.file, None);
        let Invocation::Job(job) = Invocation::parse(&args(&[
            "1",
            "u",
            "t",
            "1",
            "",
            "/var/spool/cups/d00001-001",
        ]))
        .unwrap() else {
            panic!("expected a job");
        };
        assert_eq!(job.file, Some(PathBuf::from("/var/spool/cups/d00001-001")));
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            Invocation::parse(&args(&["1", "u"])),
            Err(InvocationError::Usage(2))
        );
        assert!(matches!(
            Invocation::parse(&args(&["x", "u", "t", "1", ""])),
            Err(InvocationError::BadNumber { what: "job-id", .. })
        ));
        assert!(matches!(
            Invocation::parse(&args(&["1", "u", "t", "0", ""])),
            Err(InvocationError::BadNumber { what: "copies", .. })
        ));
        assert!(matches!(
            Invocation::parse(&args(&["1", "u", "t", "1", "a='x"])),
            Err(InvocationError::Options(_))
        ));
    }

    #[test]
    fn wrapped_uris() {
        let uri = WrappedUri::parse("mamori:ipp://printer.example:631/ipp/print").unwrap();
        assert_eq!(uri.inner, "ipp://printer.example:631/ipp/print");
        assert_eq!(uri.scheme, "ipp");
        assert_eq!(
            uri.backend_path(Path::new("/usr/lib/cups/backend")),
            PathBuf::from("/usr/lib/cups/backend/ipp")
        );
        assert_eq!(
            WrappedUri::parse("mamori:socket://10.0.0.5:9100")
                .unwrap()
                .scheme,
            "socket"
        );
        assert_eq!(WrappedUri::wrap("usb://X/Y"), "mamori:usb://X/Y");
        assert!(WrappedUri::is_wrapped("mamori:usb://X/Y"));
        assert!(!WrappedUri::is_wrapped("mamorix:usb://X/Y"));
        assert!(!WrappedUri::is_wrapped("usb://X/Y"));
        // A scheme names a file: nothing that could leave the backend directory.
        for bad in [
            "ipp://x",
            "mamori:",
            "mamori:ipp",
            "mamori:../../bin/sh:x",
            "mamori:a/b:x",
            "mamori:IPP://x",
            "mamori:mamori:ipp://x",
            "mamori::x",
            "mamori:1ipp://x",
        ] {
            assert!(WrappedUri::parse(bad).is_err(), "{bad}");
        }
        // A refused URI's password does not reach the message.
        let err = WrappedUri::parse("ipp://u:secret@host/p").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_uri("ipp://user:pw@host:631/p"),
            "ipp://user@host:631/p"
        );
        assert_eq!(redact_uri("ipp://host/p@x"), "ipp://host/p@x");
        assert_eq!(
            redact_uri("usb://Canon/LBP?serial=1"),
            "usb://Canon/LBP?serial=1"
        );
        assert_eq!(redact_uri("file:/dev/null"), "file:/dev/null");
    }

    #[test]
    fn environment() {
        let env = BackendEnv::from_vars([
            ("DEVICE_URI", "mamori:socket://127.0.0.1:9100"),
            ("PRINTER", "floor3"),
            ("CUPS_REQUESTROOT", "/tmp/spool"),
            ("CUPS_SERVERBIN", "/tmp/bin"),
            ("CONTENT_TYPE", "application/pdf"),
            ("HOME", "/x"),
        ]);
        assert_eq!(env.printer.as_deref(), Some("floor3"));
        assert_eq!(env.wrapped_uri().unwrap().scheme, "socket");
        assert_eq!(env.backend_dir(), PathBuf::from("/tmp/bin/backend"));
        assert_eq!(
            spool_document(&env.request_root(), 7, 1),
            PathBuf::from("/tmp/spool/d00007-001")
        );
        assert_eq!(
            spool_document(Path::new("/s"), 123456, 12),
            PathBuf::from("/s/d123456-012")
        );
        let empty = BackendEnv::default();
        assert_eq!(empty.wrapped_uri(), Err(InvocationError::NoDeviceUri));
        assert_eq!(empty.request_root(), PathBuf::from("/var/spool/cups"));
        assert_eq!(empty.backend_dir(), PathBuf::from("/usr/lib/cups/backend"));
    }

    #[test]
    fn status_lines_are_one_bounded_line() {
        assert_eq!(status_line("ERROR", "a\nb", 100), "ERROR: a b");
        let line = status_line("ERROR", &"秘".repeat(100), 20);
        assert!(line.len() <= 20);
        assert_eq!(line, "ERROR: 秘秘秘秘");
    }
}

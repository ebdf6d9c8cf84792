//! Print control for Mamori: every print job inspected, decided and recorded through CUPS.
//!
//! * [`backend`]: what CUPS passes a backend (`argv`, `DEVICE_URI=mamori:<real URI>`, the
//!   spool) and what a backend answers (exit status 5 cancels just the job).
//! * [`options`]: the job options string of `argv[5]`, parsed with limits.
//! * [`job`]: a [`PrintJob`], the [`JobControl`] question every print path asks, and
//!   [`GatekeeperControl`], Mamori's answer through the gateway core (inspect each submitted
//!   document, decide for the `print` channel and the printer, record one journal event).
//!   The backend is one caller; an IPP proxy (CUPS 3) would be another.
//! * [`cupsd_conf`]: the `cupsd.conf` change that makes the job owner the authenticated user,
//!   as a pure, reversible, idempotent text transform.
//!
//! ```
//! use mamori_print::{outcome, Outcome};
//! use mamori_model::Action;
//! assert_eq!(outcome(Action::Audit, false), Outcome::Print);
//! assert_eq!(outcome(Action::Justify, false), Outcome::Refuse);
//! assert_eq!(outcome(Action::Justify, true), Outcome::Print);
//! let conf = "<Policy default>\n  <Limit Create-Job Print-Job Print-URI>\n    Order deny,allow\n  </Limit>\n</Policy>\n";
//! let hardened = mamori_print::cupsd_conf::harden(conf, "default").unwrap();
//! assert!(hardened.contains("Require valid-user"));
//! assert_eq!(mamori_print::cupsd_conf::unharden(&hardened), conf);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod cupsd_conf;
pub mod job;
pub mod options;

pub use backend::{BackendEnv, ExitStatus, Invocation, InvocationError, JobArgs, WrappedUri};
pub use job::{
    Document, GatekeeperControl, JobControl, Outcome, PrintError, PrintJob, Verdict, outcome,
};
pub use options::{Options, OptionsError};

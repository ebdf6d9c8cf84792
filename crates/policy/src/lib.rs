//! Mamori's policy: what levels of secrecy exist, how content gets its level, and what may
//! happen to content of each level on each channel, for whom and to where.
//!
//! A policy is one TOML file (format in `docs/policy.md`, a commented example from
//! [`Policy::default_policy`]). Loading it checks everything in one pass and reports every
//! problem as `file:line:column: message` ([`PolicyErrors`]). The loaded [`Policy`] answers two
//! pure questions that every enforcement point (agent, web gateway, mail gateway, print) asks:
//!
//! * [`Policy::classify`]: findings + path + explicit label + fingerprints + uninspectable parts
//!   → a level, and every reason for it. The highest level wins.
//! * [`Policy::decide`]: level × channel × principal × destination → a
//!   [`mamori_model::Decision`]: the action, the matched rule ids (deciding one first) and a
//!   reason in Japanese and English for a pop-up.
//!
//! # Precedence
//! Of the rules that match, the most restrictive action wins (`allow < audit < notify < justify
//! < encrypt < quarantine < block`). A rule marked `exception = true` sets the ordinary rules
//! aside when it matches (that is how a relaxation is written); a rule marked `final = true`
//! always counts and no exception can relax it. Ties go to the smallest rule id, so the order
//! rules are written in never changes a decision. With no matching rule, `default_action`.
//!
//! # Example
//! ```
//! use mamori_model::{Action, Category, Channel, Confidence, Finding};
//! use mamori_policy::{ClassifyInput, DecideInput, Destination, Policy, Principal};
//!
//! let policy = Policy::default_policy();
//!
//! // One 極秘 marking makes a file top secret.
//! let findings = [Finding::new("label.gokuhi", Category::Label, Confidence::High)];
//! let class = policy.classify(&ClassifyInput { findings: &findings, ..Default::default() });
//! assert_eq!(policy.level(class.level).ja, "極秘");
//!
//! // ...and top secret never leaves by mail.
//! let decision = policy.decide(&DecideInput {
//!     level: class.level,
//!     channel: Channel::Mail,
//!     principal: &Principal::new("tanaka"),
//!     destination: &Destination::parse(Channel::Mail, "partner@example.com").unwrap(),
//! });
//! assert_eq!(decision.action, Action::Block);
//! assert_eq!(decision.rules[0], "top-secret-never-leaves");
//! assert_eq!(
//!     decision.reason.ja,
//!     "極秘のファイルはメールで送信することができません (rule top-secret-never-leaves)"
//! );
//!
//! // Loading reports every problem with its line and column.
//! let errors = Policy::from_toml("[policy]\nversion = 1\n[[level]]\nid = \"x\"\n", "p.toml")
//!     .unwrap_err();
//! assert_eq!(errors.to_string(), "p.toml:3:1: level.x.ja: missing required field\n\
//!                                 p.toml:3:1: level.x.en: missing required field");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod classify;
mod decide;
mod destination;
mod error;
mod load;
mod policy;
mod reason;
pub mod signing;

pub use classify::{Classification, ClassifyInput, Why};
pub use decide::{DecideInput, Verdict};
pub use destination::{
    Destination, DestinationError, GroupError, GroupResolver, Principal, StaticGroups, UsbDevice,
};
pub use error::{ErrorKind, PolicyError, PolicyErrors};
pub use load::{
    LoadOptions, MAX_LEVELS, MAX_POLICY_BYTES, MAX_RULES, UNINSPECTABLE_KINDS, is_detector_id_shape,
};
pub use policy::{ClassifyRule, Level, LevelId, Policy, Rule, RuleKind};

/// The commented default policy, as `mamori policy default` prints it.
pub const DEFAULT_POLICY_TOML: &str = include_str!("default_policy.toml");

impl Policy {
    /// The built-in default policy ([`DEFAULT_POLICY_TOML`]), sensible for a Japanese company:
    /// audit everything; top secret never leaves; secret only to allow-listed encrypted USB
    /// devices and internal mail; internal: notify on external mail and uploads; public: allow.
    pub fn default_policy() -> Policy {
        match Policy::from_toml(DEFAULT_POLICY_TOML, "(default policy)") {
            Ok(policy) => policy,
            // A test loads the default policy: this cannot happen in a released build.
            Err(errors) => panic!("the built-in default policy is invalid:\n{errors}"),
        }
    }
}

#[cfg(test)]
mod tests;

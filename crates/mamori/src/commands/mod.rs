//! One module per subcommand.

pub mod inspect;
pub mod rules;
pub mod log;
pub mod label;
pub mod policy;
pub mod edm;
pub mod fingerprint;
pub mod scan;

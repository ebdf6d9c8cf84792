//! One module per subcommand.

pub mod edm;
pub mod fingerprint;
pub mod inspect;
pub mod keys;
pub mod label;
pub mod log;
pub mod open;
pub mod policy;
pub mod protect;
pub mod rules;
pub mod scan;

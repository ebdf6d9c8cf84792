//! One module per subcommand.

pub mod edm;
pub mod fingerprint;
pub mod inspect;
pub mod label;
pub mod log;
pub mod policy;
pub mod rules;
pub mod keys;
pub mod open;
pub mod protect;
pub mod scan;

//! One module per subcommand.

pub mod agent;
pub mod device;
pub mod edm;
pub mod fingerprint;
pub mod gateway;
pub mod icap;
pub mod inspect;
pub mod keys;
pub mod label;
pub mod log;
pub mod milter;
pub mod notify;
pub mod open;
pub mod policy;
pub mod print;
pub mod protect;
pub mod rules;
pub mod scan;

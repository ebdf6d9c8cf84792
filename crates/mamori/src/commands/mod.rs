//! One module per subcommand.

pub mod agent;
pub mod edm;
pub mod fingerprint;
#[allow(dead_code)] // used by the gateway subcommands (icap, milter, print, agent) as they land
pub mod gateway;
pub mod inspect;
pub mod keys;
pub mod label;
pub mod log;
pub mod open;
pub mod policy;
pub mod protect;
pub mod rules;
pub mod scan;

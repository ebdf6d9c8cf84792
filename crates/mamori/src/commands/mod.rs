//! One module per subcommand.

pub mod device;
pub mod edm;
pub mod fingerprint;
#[allow(dead_code)] // used by the gateway subcommands (icap, milter, print, agent) as they land
pub mod gateway;
pub mod icap;
pub mod inspect;
pub mod keys;
pub mod label;
pub mod log;
pub mod milter;
pub mod open;
pub mod policy;
pub mod print;
pub mod protect;
pub mod rules;
pub mod scan;

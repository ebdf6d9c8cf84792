//! One module per subcommand.

pub mod edm;
pub mod fingerprint;
pub mod scan;

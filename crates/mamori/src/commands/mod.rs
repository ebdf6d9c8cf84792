//! One module per subcommand.

pub mod label;
pub mod policy;
pub mod scan;

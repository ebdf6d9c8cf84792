//! One module per subcommand.

pub mod log;
pub mod scan;

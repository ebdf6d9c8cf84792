//! One module per subcommand.

pub mod inspect;
pub mod rules;
pub mod scan;

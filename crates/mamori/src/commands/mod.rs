//! One module per subcommand.

pub mod inspect;
pub mod keys;
pub mod open;
pub mod protect;
pub mod scan;

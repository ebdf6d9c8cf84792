//! Where Mamori keeps its state: the journal, the store, fingerprint indexes, the host's keys.
//!
//! Every command that reads or writes state takes `--data-dir DIR`. Without it the default is
//! `/var/lib/mamori` when running as root, and the XDG data directory (`$XDG_DATA_HOME/mamori`,
//! else `~/.local/share/mamori`) otherwise.

use std::path::{Path, PathBuf};

/// The `--data-dir` option, flattened into every subcommand that needs state.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// Directory holding Mamori's state [default: /var/lib/mamori as root, else $XDG_DATA_HOME/mamori]
    #[arg(
        long = "data-dir",
        value_name = "DIR",
        env = "MAMORI_DATA_DIR",
        global = true
    )]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The directory to use: the flag, or the default for this user.
    pub fn resolve(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The directory to use, created (mode 0700) if missing.
    pub fn ensure(&self) -> anyhow::Result<PathBuf> {
        let dir = self.resolve();
        create_private_dir(&dir)?;
        Ok(dir)
    }
}

/// The default data directory for the current user.
pub fn default_data_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/mamori");
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("mamori");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/mamori");
    }
    PathBuf::from(".mamori")
}

/// Creates `dir` and its parents; the directory itself is made readable by its owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

//! Options shared by the enforcement points (`icap`, `milter`, the print backend, `agent`): the
//! rules, the policy, the registered fingerprints and the journal, built into one
//! [`mamori_gateway::Gatekeeper`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mamori_gateway::Gatekeeper;

/// Flags every gateway takes, flattened into its arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayOptions {
    /// Add the dictionaries, regexes and context words of a rules file (TOML; repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// The policy (default: the built-in policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Do not use the registered document fingerprints and exact-data tables of the data
    /// directory (used by default when present).
    #[arg(long)]
    pub no_fingerprints: bool,
    /// Compare all text with the registered documents, not only the text around their
    /// anchors: slower, and finds copies whose every anchor was changed (English with every
    /// space doubled).
    #[arg(long, conflicts_with = "no_fingerprints")]
    pub thorough_fingerprints: bool,
    /// Do not record decisions in the journal (for trials; every decision is still logged to
    /// standard error).
    #[arg(long)]
    pub no_journal: bool,
    #[command(flatten)]
    pub data_dir: crate::data_dir::DataDirArg,
    /// Largest part inspected whole, in MiB; larger content is uninspectable (the policy's
    /// `uninspectable` classification decides).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_filesize: u64,
    /// Time budget for inspecting one part, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

impl GatewayOptions {
    /// Loads the policy these options name, or the built-in one.
    pub fn load_policy(&self) -> anyhow::Result<mamori_policy::Policy> {
        crate::commands::policy::load_policy(self.policy.as_deref())
    }

    /// Builds the gatekeeper: the engine with the rules and the data directory's fingerprints,
    /// the policy, and (unless `--no-journal`) the data directory's journal, opened for writing.
    pub fn build(&self) -> anyhow::Result<Gatekeeper> {
        let limits = mamori_inspect::Limits {
            max_input_bytes: self.max_filesize << 20,
            time_budget: Duration::from_secs(self.timeout),
            ..Default::default()
        };
        let mut builder = mamori_inspect::InspectorBuilder::new()
            .rules(crate::commands::scan::load_rules(&self.rules)?)
            .limits(limits);
        if !self.no_fingerprints {
            let store = mamori_fingerprint::FingerprintStore::in_data_dir(&self.data_dir.resolve())
                .thorough(self.thorough_fingerprints);
            for detector in store
                .load_detectors()
                .context("cannot load the fingerprint index")?
            {
                builder = builder.document_detector(detector);
            }
        }
        let inspector = builder
            .build()
            .context("cannot build the inspection engine")?;
        let gatekeeper = Gatekeeper::new(inspector, self.load_policy()?);
        if self.no_journal {
            return Ok(gatekeeper);
        }
        let dir = self.data_dir.ensure()?;
        let journal =
            mamori_journal::Journal::open(&dir, mamori_journal::JournalOptions::default())
                .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
        Ok(gatekeeper.with_journal(Arc::new(journal)))
    }
}

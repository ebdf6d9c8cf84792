//! `mamori inspect`: inspect one input, a file or standard input (`-`), for pipes and gateways.

use std::io::{self, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::scan::{InspectOptions, classify, exit_code, inspect_path};
use crate::i18n::Lang;
use crate::output::{self, FileResult, Totals};

/// Arguments of `mamori inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The file to inspect, or `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,
    #[command(flatten)]
    pub options: InspectOptions,
}

/// Runs the inspection. Exit status as for `scan`.
pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let lang = Lang::resolve(args.options.lang);
    let inspector = args.options.build_inspector()?;
    let policy = args.options.load_policy()?;
    let started = std::time::Instant::now();
    let mut totals = Totals::default();
    let result = if args.input.as_os_str() == "-" {
        // Standard input cannot seek: read it whole, up to the size limit, and inspect what
        // was read; anything beyond the limit is reported as uninspectable, not dropped.
        let limit = args.options.max_filesize << 20;
        let mut bytes = Vec::new();
        io::stdin().lock().take(limit + 1).read_to_end(&mut bytes)?;
        let truncated = bytes.len() as u64 > limit;
        bytes.truncate(limit as usize);
        let report = inspector.inspect_bytes(&bytes);
        let mut uninspectable = report.uninspectable;
        if truncated {
            uninspectable.push(mamori_model::Uninspectable {
                location: mamori_model::Location::root(),
                reason: mamori_model::UninspectableReason::TooLarge,
            });
        }
        let mut result = FileResult {
            path: "-".into(),
            content_type: report.content_type,
            bytes: report.bytes_read,
            findings: report.findings,
            uninspectable,
            level: None,
        };
        result.level = Some(classify(&policy, &result, None, None));
        Ok(result)
    } else {
        inspect_path(&inspector, Some(&policy), &args.input)
    };
    let mut writer = output::writer(
        args.options.format,
        Box::new(io::stdout().lock()),
        lang,
        args.options.all,
        output::detector_names(&inspector),
    );
    match result {
        Ok(result) => {
            totals.files = 1;
            totals.bytes = result.bytes;
            totals.files_with_findings = u64::from(!result.findings.is_empty());
            totals.files_uninspectable = u64::from(!result.uninspectable.is_empty());
            totals.findings = result.findings.iter().map(|f| u64::from(f.count)).sum();
            writer.result(&result)?;
        }
        Err(err) => {
            totals.errors = 1;
            eprintln!("mamori: {}: {err}", args.input.display());
        }
    }
    totals.elapsed = started.elapsed();
    // The text report's summary line is noise for one clean input; machine formats always
    // finish (SARIF writes its whole log there).
    let found = totals.files_with_findings + totals.files_uninspectable > 0;
    if args.options.format != output::Format::Text || found || args.options.all {
        writer.finish(&totals)?;
    }
    Ok(exit_code(lang, &totals))
}

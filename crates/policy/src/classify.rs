//! Classification: which level a piece of content is, and why. The highest level wins.

use std::path::Path;

use mamori_model::{Bilingual, Category, Finding, Uninspectable};

use crate::policy::{LevelId, Policy};

/// What is known about one file (or message, or upload) to classify it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyInput<'a> {
    /// The file's path, for `paths` rules. `None` for content without one (a mail body).
    pub path: Option<&'a Path>,
    /// What the inspection engine found. Fingerprint findings (category `fingerprint` with a
    /// [`mamori_model::DocumentMatch`]) give the registered document's level directly.
    pub findings: &'a [Finding],
    /// Parts the inspection engine could not read.
    pub uninspectable: &'a [Uninspectable],
    /// A level id set explicitly on the file (`mamori label`), if any.
    pub explicit_label: Option<&'a str>,
}

/// One reason content got a level.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Why {
    /// Nothing classified the content: the policy's default level.
    Default {
        /// The default level.
        level: LevelId,
    },
    /// A classification rule on findings matched.
    Findings {
        /// The rule id.
        rule: String,
        /// The rule's level.
        level: LevelId,
        /// How many matches counted.
        count: u32,
        /// The detectors that contributed, sorted, without repeats.
        detectors: Vec<String>,
    },
    /// A classification rule on the path matched.
    Path {
        /// The rule id.
        rule: String,
        /// The rule's level.
        level: LevelId,
        /// The glob that matched.
        pattern: String,
    },
    /// A classification rule on uninspectable content matched.
    Uninspectable {
        /// The rule id.
        rule: String,
        /// The rule's level.
        level: LevelId,
        /// The kinds of the unreadable parts (`encrypted`, `too_deep`...).
        kinds: Vec<String>,
    },
    /// The file carries an explicit label.
    Label {
        /// The level it gives.
        level: LevelId,
        /// The label as stored on the file.
        label: String,
        /// False when the label names no level of this policy; such a file gets the highest
        /// level, since someone meant it to be protected.
        known: bool,
    },
    /// The content contains text of a registered confidential document.
    Fingerprint {
        /// The level it gives.
        level: LevelId,
        /// The registered document's name.
        document: String,
        /// The level the document was registered with; when this policy has no such level the
        /// content gets the highest level.
        registered_level: String,
        /// Share of the document's fingerprints found, 0.0 to 1.0.
        containment: f64,
    },
}

impl Why {
    /// The level this reason gives.
    pub fn level(&self) -> LevelId {
        match self {
            Why::Default { level }
            | Why::Findings { level, .. }
            | Why::Path { level, .. }
            | Why::Uninspectable { level, .. }
            | Why::Label { level, .. }
            | Why::Fingerprint { level, .. } => *level,
        }
    }

    /// The id of the classification rule, for reasons that come from one.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Why::Findings { rule, .. }
            | Why::Path { rule, .. }
            | Why::Uninspectable { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// A stable snake_case name of the kind of reason (`findings`, `path`, `label`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Why::Default { .. } => "default",
            Why::Findings { .. } => "findings",
            Why::Path { .. } => "path",
            Why::Uninspectable { .. } => "uninspectable",
            Why::Label { .. } => "label",
            Why::Fingerprint { .. } => "fingerprint",
        }
    }
}

/// The level of some content and every reason for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The highest level any reason gives (the default level when there is none).
    pub level: LevelId,
    /// Every reason that applied, the ones giving the final level first; never empty.
    pub reasons: Vec<Why>,
}

impl Policy {
    /// Classifies content: every classification rule, the explicit label and fingerprint matches
    /// are considered, and the highest level wins.
    pub fn classify(&self, input: &ClassifyInput<'_>) -> Classification {
        let mut reasons = Vec::new();

        if let Some(label) = input.explicit_label {
            let label = label.trim();
            let (level, known) = match self.level_id(label) {
                Some(level) => (level, true),
                None => (self.highest_level(), false),
            };
            reasons.push(Why::Label {
                level,
                label: label.to_owned(),
                known,
            });
        }

        for finding in input.findings {
            if finding.category != Category::Fingerprint {
                continue;
            }
            if let Some(document) = &finding.document {
                let (level, _) = match self.level_id(&document.level) {
                    Some(level) => (level, true),
                    None => (self.highest_level(), false),
                };
                reasons.push(Why::Fingerprint {
                    level,
                    document: document.document.clone(),
                    registered_level: document.level.clone(),
                    containment: document.containment,
                });
            }
        }

        let path_hits: Vec<usize> = match input.path {
            Some(path) if !self.path_globs.is_empty() => self.path_globs.matches(path),
            _ => Vec::new(),
        };

        for (index, rule) in self.classify_rules.iter().enumerate() {
            let mut why_findings = None;
            if let Some(condition) = &rule.findings {
                let mut count: u32 = 0;
                let mut detectors: Vec<&str> = Vec::new();
                for finding in input.findings {
                    if finding.confidence >= condition.min_confidence
                        && (condition.detectors.contains(&finding.detector)
                            || condition.categories.contains(&finding.category))
                    {
                        count = count.saturating_add(finding.count);
                        detectors.push(&finding.detector);
                    }
                }
                if count < condition.min_count {
                    continue;
                }
                detectors.sort_unstable();
                detectors.dedup();
                why_findings = Some((count, detectors));
            }
            let mut why_path = None;
            if !rule.paths.is_empty() {
                match path_hits
                    .iter()
                    .find(|&&glob| self.path_glob_owner[glob].0 == index)
                {
                    Some(&glob) => why_path = Some(self.path_glob_owner[glob].1.clone()),
                    None => continue,
                }
            }
            let mut why_uninspectable = None;
            if let Some(kinds) = &rule.uninspectable {
                let mut hit: Vec<String> = input
                    .uninspectable
                    .iter()
                    .map(|u| u.reason.kind())
                    .filter(|kind| kinds.iter().any(|k| k == "any" || k == kind))
                    .map(str::to_owned)
                    .collect();
                if hit.is_empty() {
                    continue;
                }
                hit.sort_unstable();
                hit.dedup();
                why_uninspectable = Some(hit);
            }
            let (rule_id, level) = (rule.id.clone(), rule.level);
            // A rule with several conditions is reported by the most telling one.
            if let Some((count, detectors)) = why_findings {
                let detectors = detectors.into_iter().map(str::to_owned).collect();
                reasons.push(Why::Findings {
                    rule: rule_id,
                    level,
                    count,
                    detectors,
                });
            } else if let Some(kinds) = why_uninspectable {
                reasons.push(Why::Uninspectable {
                    rule: rule_id,
                    level,
                    kinds,
                });
            } else if let Some(pattern) = why_path {
                reasons.push(Why::Path {
                    rule: rule_id,
                    level,
                    pattern,
                });
            }
        }

        let level = reasons
            .iter()
            .map(Why::level)
            .max()
            .unwrap_or(self.default_level);
        let level = level.max(self.default_level);
        if reasons.iter().all(|r| r.level() < level) {
            reasons.push(Why::Default { level });
        }
        // The deciding reasons first; otherwise keep the order they were found in.
        reasons.sort_by_key(|r| std::cmp::Reverse(r.level() == level));
        Classification { level, reasons }
    }

    /// A sentence explaining one reason, in Japanese and English.
    pub fn explain(&self, why: &Why) -> Bilingual {
        let level = self.level(why.level());
        let (lja, len) = (&level.ja, &level.en);
        match why {
            Why::Default { .. } => Bilingual::new(
                format!("どの規則にも該当しないため既定のレベル「{lja}」です"),
                format!("no rule applies: the default level, {len}"),
            ),
            Why::Findings {
                rule,
                count,
                detectors,
                ..
            } => Bilingual::new(
                format!(
                    "検出 {count} 件 ({}) により「{lja}」 (rule {rule})",
                    detectors.join(", ")
                ),
                format!(
                    "{count} finding(s) ({}) make it {len} (rule {rule})",
                    detectors.join(", ")
                ),
            ),
            Why::Path { rule, pattern, .. } => Bilingual::new(
                format!("保存場所が {pattern} に該当するため「{lja}」 (rule {rule})"),
                format!("its path matches {pattern}: {len} (rule {rule})"),
            ),
            Why::Uninspectable { rule, kinds, .. } => Bilingual::new(
                format!(
                    "検査できない内容 ({}) を含むため「{lja}」 (rule {rule})",
                    kinds.join(", ")
                ),
                format!(
                    "it has content that cannot be inspected ({}): {len} (rule {rule})",
                    kinds.join(", ")
                ),
            ),
            Why::Label {
                label, known: true, ..
            } => Bilingual::new(
                format!("ファイルに「{lja}」のラベル ({label}) が付けられています"),
                format!("the file is labelled {len} ({label})"),
            ),
            Why::Label {
                label,
                known: false,
                ..
            } => Bilingual::new(
                format!(
                    "ファイルのラベル {label} はこのポリシーにないため最上位の「{lja}」とします"
                ),
                format!(
                    "the file's label {label} is not a level of this policy: treated as the highest, {len}"
                ),
            ),
            Why::Fingerprint {
                document,
                registered_level,
                containment,
                ..
            } => {
                let percent = (containment * 100.0).round();
                Bilingual::new(
                    format!(
                        "登録文書「{document}」({registered_level}) の内容を {percent}% 含むため「{lja}」"
                    ),
                    format!(
                        "it contains {percent}% of the registered document \"{document}\" ({registered_level}): {len}"
                    ),
                )
            }
        }
    }
}

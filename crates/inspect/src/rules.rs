//! Rules: what an [`crate::Inspector`] looks for, built in or loaded from a TOML rules file.
//!
//! A rules file adds keyword dictionaries, regexes and context words for existing detectors,
//! and can disable built-in detectors:
//!
//! ```toml
//! disable = ["label.secret"]
//!
//! [[dictionary]]
//! id = "keyword.project_sakura"
//! category = "keyword"          # default "keyword"
//! confidence = "high"           # default "medium"
//! words = ["Project Sakura", "さくら計画"]
//! whole_word = true             # ASCII words match whole words only (default true)
//! case_sensitive = false        # default false
//! examples.match = ["さくら計画 第2版"]
//! examples.no_match = ["さくら"]
//!
//! [[regex]]
//! id = "custom.employee_id"
//! pattern = 'EMP-[0-9]{6}'
//! category = "custom"           # default "custom"
//! confidence = "low"            # without context words; omit with require_context
//! context_confidence = "high"   # with context words (default "high")
//! context = ["社員番号", "employee"]
//! require_context = false
//! window = 300                  # characters either side for context words
//! mask = "partial"              # clear | partial | digits | credential | email
//! examples.match = ["社員番号 EMP-123456"]
//!
//! [[context]]
//! detector = "jp.my_number"
//! words = ["被保険者"]
//! ```
//!
//! Every error names the file, line, column and field: `rules.toml:7:11: regex.pattern: ...`.
//! All errors of a file are collected before failing.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;

use mamori_model::{Bilingual, Category, Confidence};
use serde::Deserialize;
use toml::Spanned;

use crate::builtin::{self, DEFAULT_WINDOW};
use crate::identifiers::IdKind;
use crate::mask::MaskStyle;

/// Positive and negative examples of a rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Examples {
    pub matches: Vec<String>,
    pub no_match: Vec<String>,
    /// Where each example was written (user rules), in the order matches then no_match.
    pub positions: Vec<Position>,
}

/// A file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub origin: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct DictionaryRule {
    pub id: String,
    pub category: Category,
    pub confidence: Confidence,
    pub words: Vec<String>,
    pub standalone: Vec<String>,
    pub exclude: Vec<String>,
    pub whole_word: bool,
    pub case_sensitive: bool,
    pub description: Bilingual,
    pub examples: Examples,
    pub origin: Option<Position>,
}

#[derive(Debug, Clone)]
pub(crate) struct RegexRule {
    pub id: String,
    pub category: Category,
    pub pattern: String,
    pub without_context: Option<Confidence>,
    pub with_context: Confidence,
    pub context: Vec<String>,
    pub window: usize,
    pub mask: MaskStyle,
    pub description: Bilingual,
    pub examples: Examples,
    pub origin: Option<Position>,
    /// An ASCII byte every match contains, with no whitespace in a match (built-in rules only).
    pub anchor: Option<u8>,
    /// Literals one of which every match starts with (built-in rules only): the regex then runs
    /// only where one of them occurs (see `patterns::RegexMatcher`).
    pub prefixes: &'static [&'static str],
}

#[derive(Debug, Clone)]
pub(crate) struct IdentifierRule {
    pub kind: IdKind,
    pub context: Vec<String>,
    pub window: usize,
    pub description: Bilingual,
    pub examples: Examples,
}

/// Context words a rules file adds to a detector defined elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct ContextAddition {
    pub detector: String,
    pub words: Vec<String>,
    pub window: Option<usize>,
    pub origin: Option<Position>,
}

/// The rules an [`crate::Inspector`] applies: dictionaries, regexes, identifier detectors and
/// their context words.
///
/// Start from [`Rules::builtin`], load files with [`Rules::from_toml`] and combine them with
/// [`Rules::merge`]. `Rules::default()` has no detectors at all.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub(crate) dictionaries: Vec<DictionaryRule>,
    pub(crate) regexes: Vec<RegexRule>,
    pub(crate) identifiers: Vec<IdentifierRule>,
    pub(crate) context: Vec<ContextAddition>,
    pub(crate) disabled: BTreeSet<String>,
}

/// What a detector is, for listings and for validating detector ids in policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorInfo {
    /// Stable id (`label.shagaihi`, `jp.my_number`, `secret.aws_access_key`).
    pub id: String,
    /// What kind of information it finds.
    pub category: Category,
    /// What it finds, for a person.
    pub description: Bilingual,
}

impl Rules {
    /// The built-in rules: Japanese and English confidentiality labels, identifiers, secrets.
    pub fn builtin() -> Rules {
        Rules {
            dictionaries: builtin::dictionaries(),
            regexes: builtin::regexes(),
            identifiers: builtin::identifiers(),
            context: Vec::new(),
            disabled: BTreeSet::new(),
        }
    }

    /// Adds `other`'s rules to these. Context words and disabled ids apply to detectors of
    /// both; duplicate ids are reported when an inspector is built.
    pub fn merge(mut self, other: Rules) -> Rules {
        self.dictionaries.extend(other.dictionaries);
        self.regexes.extend(other.regexes);
        for id in other.identifiers {
            if !self.identifiers.iter().any(|mine| mine.kind == id.kind) {
                self.identifiers.push(id);
            }
        }
        self.context.extend(other.context);
        self.disabled.extend(other.disabled);
        self
    }

    /// Every detector these rules enable, in a stable order.
    pub fn detectors(&self) -> impl Iterator<Item = DetectorInfo> + '_ {
        let dictionaries = self.dictionaries.iter().map(|d| DetectorInfo {
            id: d.id.clone(),
            category: d.category,
            description: d.description.clone(),
        });
        let regexes = self.regexes.iter().map(|r| DetectorInfo {
            id: r.id.clone(),
            category: r.category,
            description: r.description.clone(),
        });
        let identifiers = self.identifiers.iter().map(|i| DetectorInfo {
            id: i.kind.id().to_string(),
            category: i.kind.category(),
            description: i.description.clone(),
        });
        dictionaries
            .chain(identifiers)
            .chain(regexes)
            .filter(|d| !self.disabled.contains(&d.id))
    }

    /// Loads a rules file. `origin` names it in error messages (usually its path).
    pub fn from_toml(text: &str, origin: &str) -> Result<Rules, RulesError> {
        if text.len() > MAX_RULES_FILE {
            return Err(RulesError::Syntax(RuleIssue {
                origin: origin.to_string(),
                line: 1,
                column: 1,
                field: "file".into(),
                message: format!(
                    "rules file larger than {} MiB / ルールファイルが大きすぎます",
                    MAX_RULES_FILE >> 20
                ),
            }));
        }
        let file: FileToml = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let field = field_from_message(&message).unwrap_or_else(|| field_at(text, span.start));
            RulesError::Syntax(RuleIssue::at(origin, text, span, field, message))
        })?;
        let mut loader = Loader {
            origin,
            text,
            issues: Vec::new(),
        };
        let rules = loader.load(file);
        if loader.issues.is_empty() {
            Ok(rules)
        } else {
            Err(RulesError::Invalid(loader.issues))
        }
    }

    /// Runs every rule's examples through an inspector built from these rules: each
    /// `examples.match` string must yield a finding of its rule, each `examples.no_match` none.
    pub fn check_examples(&self) -> Result<ExampleReport, crate::BuildError> {
        let inspector = crate::InspectorBuilder::new().rules(self.clone()).build()?;
        let mut report = ExampleReport::default();
        let mut run = |id: &str, examples: &Examples| {
            let all = examples
                .matches
                .iter()
                .map(|e| (e, true))
                .chain(examples.no_match.iter().map(|e| (e, false)));
            for (i, (example, expected)) in all.enumerate() {
                if self.disabled.contains(id) {
                    continue;
                }
                report.checked += 1;
                let found = inspector
                    .inspect_text(example)
                    .iter()
                    .any(|f| f.detector == id);
                if found != expected {
                    let position = examples.positions.get(i).cloned();
                    report.failures.push(ExampleFailure {
                        detector: id.to_string(),
                        example: example.clone(),
                        expected_match: expected,
                        location: position.map(|p| format!("{}:{}:{}", p.origin, p.line, p.column)),
                    });
                }
            }
        };
        for d in &self.dictionaries {
            run(&d.id, &d.examples);
        }
        for r in &self.regexes {
            run(&r.id, &r.examples);
        }
        for i in &self.identifiers {
            run(i.kind.id(), &i.examples);
        }
        Ok(report)
    }
}

/// The outcome of [`Rules::check_examples`].
#[derive(Debug, Clone, Default)]
pub struct ExampleReport {
    /// How many examples ran.
    pub checked: usize,
    /// The examples that did not behave as declared.
    pub failures: Vec<ExampleFailure>,
}

/// An example that did not behave as its rule declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    /// The rule's detector id.
    pub detector: String,
    /// The example text.
    pub example: String,
    /// True for an `examples.match` that found nothing, false for an `examples.no_match` that
    /// found something.
    pub expected_match: bool,
    /// `file:line:column` of the example, for rules from a file.
    pub location: Option<String>,
}

impl fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if self.expected_match {
            write!(
                f,
                "{}: example should match but does not / 一致すべき例が一致しません: {:?}",
                self.detector, self.example
            )
        } else {
            write!(
                f,
                "{}: example should not match but does / 一致すべきでない例が一致します: {:?}",
                self.detector, self.example
            )
        }
    }
}

/// One problem in a rules file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleIssue {
    /// The file (the `origin` given to [`Rules::from_toml`]).
    pub origin: String,
    /// One-based line.
    pub line: usize,
    /// One-based column, in characters.
    pub column: usize,
    /// The field at fault, dotted (`regex.pattern`, `dictionary.words`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl RuleIssue {
    fn at(
        origin: &str,
        text: &str,
        span: Range<usize>,
        field: String,
        message: String,
    ) -> RuleIssue {
        let (line, column) = line_column(text, span.start);
        RuleIssue {
            origin: origin.to_string(),
            line,
            column,
            field,
            message,
        }
    }
}

impl fmt::Display for RuleIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.origin, self.line, self.column, self.field, self.message
        )
    }
}

/// Why a rules file was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file is not valid TOML, or a field has the wrong type or name.
    #[error("{0}")]
    Syntax(RuleIssue),
    /// The file is TOML of the right shape, but some values are wrong (every one is listed).
    #[error("{}", display_issues(.0))]
    Invalid(Vec<RuleIssue>),
}

impl RulesError {
    /// Every issue, in file order.
    pub fn issues(&self) -> Vec<&RuleIssue> {
        match self {
            RulesError::Syntax(issue) => vec![issue],
            RulesError::Invalid(issues) => issues.iter().collect(),
        }
    }
}

fn display_issues(issues: &[RuleIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// `missing field `id``, `unknown field `patern`` name the field in the message.
fn field_from_message(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    let name = rest.split('`').next()?;
    // An empty key (`"" = 1`) is still a field the user wrote; name it the way TOML spells it.
    Some(if name.is_empty() {
        "\"\"".to_string()
    } else {
        name.to_string()
    })
}

/// The key written on the line of `offset` (`pattern = ...`), or the table header.
fn field_at(text: &str, offset: usize) -> String {
    let (line, _) = line_column(text, offset);
    let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
    if let Some((key, _)) = line_text.split_once('=')
        && !key.trim().is_empty()
    {
        return key.trim().to_string();
    }
    let header = line_text.trim_matches(|c| c == '[' || c == ']').trim();
    if header.is_empty() || !line_text.starts_with('[') {
        "syntax".to_string()
    } else {
        header.to_string()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    dictionary: Vec<DictionaryToml>,
    #[serde(default)]
    regex: Vec<RegexToml>,
    #[serde(default)]
    context: Vec<ContextToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesToml {
    #[serde(rename = "match", default)]
    matches: Vec<Spanned<String>>,
    #[serde(default)]
    no_match: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictionaryToml {
    id: Spanned<String>,
    category: Option<Spanned<String>>,
    confidence: Option<Spanned<String>>,
    words: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    standalone: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    whole_word: Option<bool>,
    case_sensitive: Option<bool>,
    description: Option<String>,
    description_ja: Option<String>,
    examples: Option<ExamplesToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexToml {
    id: Spanned<String>,
    pattern: Spanned<String>,
    category: Option<Spanned<String>>,
    confidence: Option<Spanned<String>>,
    context_confidence: Option<Spanned<String>>,
    #[serde(default)]
    context: Vec<Spanned<String>>,
    require_context: Option<Spanned<bool>>,
    window: Option<Spanned<i64>>,
    mask: Option<Spanned<String>>,
    description: Option<String>,
    description_ja: Option<String>,
    examples: Option<ExamplesToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextToml {
    detector: Spanned<String>,
    words: Spanned<Vec<Spanned<String>>>,
    window: Option<Spanned<i64>>,
}

struct Loader<'a> {
    origin: &'a str,
    text: &'a str,
    issues: Vec<RuleIssue>,
}

/// Largest rules file accepted, in bytes.
const MAX_RULES_FILE: usize = 16 << 20;
/// Longest pattern accepted, in bytes.
const MAX_PATTERN_LEN: usize = 4096;
/// Largest context window, in characters.
const MAX_WINDOW: i64 = 2000;

impl Loader<'_> {
    fn issue(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.issues.push(RuleIssue::at(
            self.origin,
            self.text,
            span,
            field.to_string(),
            message.into(),
        ));
    }

    fn position(&self, span: &Range<usize>) -> Position {
        let (line, column) = line_column(self.text, span.start);
        Position {
            origin: self.origin.to_string(),
            line,
            column,
        }
    }

    fn category(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Category,
    ) -> Category {
        let Some(value) = value else { return default };
        Category::parse(value.get_ref()).unwrap_or_else(|| {
            let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            self.issue(
                value.span(),
                field,
                format!(
                    "unknown category {:?}; expected one of {}",
                    value.get_ref(),
                    names.join(", ")
                ),
            );
            default
        })
    }

    fn confidence(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Confidence,
    ) -> Confidence {
        let Some(value) = value else { return default };
        match value.get_ref().as_str() {
            "low" => Confidence::Low,
            "medium" => Confidence::Medium,
            "high" => Confidence::High,
            other => {
                self.issue(
                    value.span(),
                    field,
                    format!("unknown confidence {other:?}; expected low, medium or high"),
                );
                default
            }
        }
    }

    fn window(&mut self, value: &Option<Spanned<i64>>, field: &str) -> Option<usize> {
        let value = value.as_ref()?;
        let w = *value.get_ref();
        if !(1..=MAX_WINDOW).contains(&w) {
            self.issue(
                value.span(),
                field,
                format!("window must be between 1 and {MAX_WINDOW} characters, not {w}"),
            );
            return None;
        }
        Some(w as usize)
    }

    fn id(&mut self, id: &Spanned<String>, field: &str, seen: &mut HashSet<String>) -> String {
        let value = id.get_ref();
        let valid = !value.is_empty()
            && value.len() <= 100
            && value.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            })
            && value.as_bytes()[0].is_ascii_lowercase();
        if !valid {
            self.issue(id.span(), field, format!("invalid id {value:?}: use lower-case letters, digits, '.', '_' and '-', starting with a letter (e.g. \"keyword.project_x\")"));
        } else if builtin_ids().contains(value.as_str()) {
            self.issue(
                id.span(),
                field,
                format!("id {value:?} is already a built-in detector"),
            );
        } else if !seen.insert(value.clone()) {
            self.issue(
                id.span(),
                field,
                format!("id {value:?} is defined twice in this file"),
            );
        }
        value.clone()
    }

    fn words(&mut self, words: &[Spanned<String>], field: &str) -> Vec<String> {
        let mut out = Vec::new();
        for w in words {
            if crate::normalize::normalize(w.get_ref())
                .as_str()
                .trim()
                .is_empty()
            {
                self.issue(w.span(), field, "empty word");
            } else if w.get_ref().len() > MAX_PATTERN_LEN {
                self.issue(
                    w.span(),
                    field,
                    format!("word longer than {MAX_PATTERN_LEN} bytes"),
                );
            } else {
                out.push(w.get_ref().clone());
            }
        }
        out
    }

    fn examples(&mut self, examples: Option<ExamplesToml>) -> Examples {
        let Some(examples) = examples else {
            return Examples::default();
        };
        let mut positions: Vec<Position> = examples
            .matches
            .iter()
            .map(|e| self.position(&e.span()))
            .collect();
        positions.extend(examples.no_match.iter().map(|e| self.position(&e.span())));
        Examples {
            matches: examples
                .matches
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            no_match: examples
                .no_match
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            positions,
        }
    }

    fn load(&mut self, file: FileToml) -> Rules {
        let mut rules = Rules::default();
        let mut seen = HashSet::new();
        for d in file.dictionary {
            let id = self.id(&d.id, "dictionary.id", &mut seen);
            let category = self.category(&d.category, "dictionary.category", Category::Keyword);
            let confidence =
                self.confidence(&d.confidence, "dictionary.confidence", Confidence::Medium);
            let words = self.words(d.words.get_ref(), "dictionary.words");
            let standalone = self.words(&d.standalone, "dictionary.standalone");
            let exclude = self.words(&d.exclude, "dictionary.exclude");
            if words.is_empty() && standalone.is_empty() {
                self.issue(
                    d.words.span(),
                    "dictionary.words",
                    "a dictionary needs at least one word",
                );
            }
            let en = d.description.unwrap_or_else(|| format!("dictionary {id}"));
            rules.dictionaries.push(DictionaryRule {
                origin: Some(self.position(&d.id.span())),
                id,
                category,
                confidence,
                words,
                standalone,
                exclude,
                whole_word: d.whole_word.unwrap_or(true),
                case_sensitive: d.case_sensitive.unwrap_or(false),
                description: Bilingual::new(d.description_ja.unwrap_or_else(|| en.clone()), en),
                examples: self.examples(d.examples),
            });
        }
        for r in file.regex {
            let id = self.id(&r.id, "regex.id", &mut seen);
            let category = self.category(&r.category, "regex.category", Category::Custom);
            let require_context = r.require_context.as_ref().is_some_and(|v| *v.get_ref());
            let without_context = if require_context {
                if let Some(c) = &r.confidence {
                    self.issue(c.span(), "regex.confidence", "a rule with require_context = true has no confidence without context; remove this field");
                }
                None
            } else {
                Some(self.confidence(&r.confidence, "regex.confidence", Confidence::Medium))
            };
            let with_context = self.confidence(
                &r.context_confidence,
                "regex.context_confidence",
                Confidence::High,
            );
            let context = self.words(&r.context, "regex.context");
            if require_context && context.is_empty() {
                let span = r.require_context.as_ref().map_or(r.id.span(), |v| v.span());
                self.issue(
                    span,
                    "regex.require_context",
                    "require_context = true needs context words",
                );
            }
            let window = self
                .window(&r.window, "regex.window")
                .unwrap_or(DEFAULT_WINDOW);
            let mask = match r.mask.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
                None | Some(("partial", _)) => MaskStyle::Partial,
                Some(("clear", _)) => MaskStyle::Clear,
                Some(("digits", _)) => MaskStyle::Digits,
                Some(("credential", _)) => MaskStyle::Credential,
                Some(("email", _)) => MaskStyle::Email,
                Some((other, span)) => {
                    self.issue(span, "regex.mask", format!("unknown mask {other:?}; expected clear, partial, digits, credential or email"));
                    MaskStyle::Partial
                }
            };
            let pattern = r.pattern.get_ref();
            if pattern.len() > MAX_PATTERN_LEN {
                self.issue(
                    r.pattern.span(),
                    "regex.pattern",
                    format!("pattern longer than {MAX_PATTERN_LEN} bytes"),
                );
            } else {
                match crate::patterns::compile(pattern) {
                    Ok(re) if re.is_match("") => {
                        self.issue(
                            r.pattern.span(),
                            "regex.pattern",
                            "pattern matches the empty string",
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let message = e
                            .to_string()
                            .lines()
                            .map(str::trim_end)
                            .collect::<Vec<_>>()
                            .join(" / ");
                        self.issue(
                            r.pattern.span(),
                            "regex.pattern",
                            format!("invalid regex: {message}"),
                        );
                    }
                }
            }
            let en = r.description.unwrap_or_else(|| format!("pattern {id}"));
            rules.regexes.push(RegexRule {
                origin: Some(self.position(&r.id.span())),
                id,
                category,
                pattern: pattern.clone(),
                without_context,
                with_context,
                context,
                window,
                mask,
                description: Bilingual::new(r.description_ja.unwrap_or_else(|| en.clone()), en),
                examples: self.examples(r.examples),
                anchor: None,
                prefixes: &[],
            });
        }
        let known: HashSet<String> = builtin_ids()
            .iter()
            .cloned()
            .chain(seen.iter().cloned())
            .collect();
        for c in file.context {
            let detector = c.detector.get_ref().clone();
            if !known.contains(&detector) {
                self.issue(
                    c.detector.span(),
                    "context.detector",
                    format!("unknown detector {detector:?}"),
                );
            }
            let words = self.words(c.words.get_ref(), "context.words");
            if words.is_empty() {
                self.issue(c.words.span(), "context.words", "no context words given");
            }
            let window = self.window(&c.window, "context.window");
            rules.context.push(ContextAddition {
                origin: Some(self.position(&c.detector.span())),
                detector,
                words,
                window,
            });
        }
        for d in file.disable {
            if !known.contains(d.get_ref()) {
                self.issue(
                    d.span(),
                    "disable",
                    format!("unknown detector {:?}", d.get_ref()),
                );
            }
            rules.disabled.insert(d.into_inner());
        }
        if self.issues.is_empty() {
            self.check_own_examples(&rules);
        }
        rules
    }

    /// Runs the file's own examples; a failing one is an error at its line.
    fn check_own_examples(&mut self, rules: &Rules) {
        let own = Rules {
            context: Vec::new(),
            disabled: BTreeSet::new(),
            identifiers: Vec::new(),
            ..rules.clone()
        };
        match own.check_examples() {
            Ok(report) => {
                for failure in report.failures {
                    let (line, column) = failure
                        .location
                        .as_deref()
                        .and_then(parse_line_column)
                        .unwrap_or((1, 1));
                    let field = if failure.expected_match {
                        "examples.match"
                    } else {
                        "examples.no_match"
                    };
                    let message = if failure.expected_match {
                        format!(
                            "example {:?} does not match rule {}",
                            failure.example, failure.detector
                        )
                    } else {
                        format!(
                            "example {:?} matches rule {} but should not",
                            failure.example, failure.detector
                        )
                    };
                    self.issues.push(RuleIssue {
                        origin: self.origin.to_string(),
                        line,
                        column,
                        field: field.to_string(),
                        message,
                    });
                }
            }
            Err(e) => {
                self.issues.push(RuleIssue {
                    origin: self.origin.to_string(),
                    line: 1,
                    column: 1,
                    field: "rules".into(),
                    message: e.to_string(),
                });
            }
        }
    }
}

fn parse_line_column(location: &str) -> Option<(usize, usize)> {
    let mut parts = location.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((line, column))
}

/// Ids of every built-in detector.
pub(crate) fn builtin_ids() -> &'static HashSet<String> {
    use std::sync::OnceLock;
    static IDS: OnceLock<HashSet<String>> = OnceLock::new();
    IDS.get_or_init(|| Rules::builtin().detectors().map(|d| d.id).collect())
}

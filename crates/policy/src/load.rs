//! Loading a policy from TOML: one pass over the document that collects every problem, each with
//! its line and column, before anything is compiled (the way Vector validates its config).
//!
//! The walk is over `toml`'s spanned document tree rather than a `serde` derive: a derive stops
//! at the first unknown key or wrong type, and a security officer fixing a policy wants the whole
//! list at once.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use mamori_model::{Action, Bilingual, Category, Channel, Confidence};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::destination::{UsbPattern, is_domain_pattern};
use crate::error::{ErrorKind, PolicyError, PolicyErrors};
use crate::policy::{
    Bucket, ClassifyRule, DestinationCondition, FindingCondition, GlobIndex, Level, LevelId,
    MailTo, Policy, PrincipalCondition, Rule, RuleKind,
};

/// Largest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 8 << 20;
/// Most levels a policy may define.
pub const MAX_LEVELS: usize = 16;
/// Most rules (classification and decision rules together) a policy may define.
pub const MAX_RULES: usize = 20_000;

/// The kinds of uninspectable content a classification rule can name (plus `any`).
pub const UNINSPECTABLE_KINDS: [&str; 11] = [
    "any",
    "encrypted",
    "corrupt",
    "no_text_layer",
    "too_large",
    "too_deep",
    "expansion_limit",
    "compression_ratio",
    "too_many_entries",
    "timeout",
    "parser_failure",
];

/// Options for [`Policy::from_toml_with`].
#[derive(Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// Tells whether a detector id is known to the inspection engine. Without it, any id of the
    /// form `^[a-z0-9_]+(\.[a-z0-9_]+)+$` (such as `label.gokuhi`) is accepted.
    pub known_detector: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("known_detector", &self.known_detector.map(|_| "<fn>"))
            .finish()
    }
}

/// True for a string shaped like a detector id: dotted lower-case words, at least two.
pub fn is_detector_id_shape(id: &str) -> bool {
    let mut parts = 0;
    for part in id.split('.') {
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

fn is_level_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

impl Policy {
    /// Loads a policy from TOML text. `origin` (usually the file name) prefixes every error.
    ///
    /// Detector ids are checked only for their shape; use [`Policy::from_toml_with`] to check
    /// them against the inspection engine's list.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        Policy::from_toml_with(text, origin, &LoadOptions::default())
    }

    /// Loads a policy from TOML text with options.
    pub fn from_toml_with(
        text: &str,
        origin: &str,
        options: &LoadOptions<'_>,
    ) -> Result<Policy, PolicyErrors> {
        let mut ctx = Ctx::new(text, origin);
        if text.len() > MAX_POLICY_BYTES {
            ctx.error(
                0..0,
                ErrorKind::InvalidValue {
                    field: "policy".into(),
                    value: format!("{} bytes", text.len()),
                    reason: format!("a policy may not exceed {MAX_POLICY_BYTES} bytes"),
                },
            );
            return Err(ctx.finish());
        }
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            ctx.error(span, ErrorKind::Syntax(error.message().trim().to_owned()));
        }
        if !ctx.errors.is_empty() {
            // A document with syntax errors is not walked: recovery can invent structure, and
            // errors about it would only confuse.
            return Err(ctx.finish());
        }
        let policy = Loader {
            ctx: &mut ctx,
            options,
        }
        .load(&root);
        match policy {
            Some(policy) if ctx.errors.is_empty() => Ok(policy),
            _ => Err(ctx.finish()),
        }
    }
}

/// Error collection and offset-to-line/column translation.
struct Ctx<'t> {
    origin: &'t str,
    text: &'t str,
    line_starts: Vec<usize>,
    errors: Vec<PolicyError>,
}

impl<'t> Ctx<'t> {
    fn new(text: &'t str, origin: &'t str) -> Ctx<'t> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Ctx {
            origin,
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// One-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.position(span.start).0
    }

    fn error(&mut self, span: Range<usize>, kind: ErrorKind) {
        let (line, column) = self.position(span.start);
        self.errors.push(PolicyError {
            origin: self.origin.to_owned(),
            line,
            column,
            kind,
        });
    }

    fn finish(&mut self) -> PolicyErrors {
        PolicyErrors::new(std::mem::take(&mut self.errors))
    }
}

type Item<'i> = Spanned<DeValue<'i>>;

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn join_field(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A string value with where it was written.
type Str = (String, Range<usize>);

struct Loader<'c, 't, 'o> {
    ctx: &'c mut Ctx<'t>,
    options: &'o LoadOptions<'o>,
}

/// A decision rule as read, before compilation.
struct RawRule {
    rule: Rule,
    levels: Vec<bool>,
    channels: [bool; 7],
}

impl Loader<'_, '_, '_> {
    // ----- generic field readers -------------------------------------------------------------

    fn check_keys(&mut self, table: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.ctx.error(
                    key.span(),
                    ErrorKind::UnknownField {
                        field: if path.is_empty() {
                            "(top level)".into()
                        } else {
                            path.into()
                        },
                        key: key.get_ref().to_string(),
                        expected: allowed.join(", "),
                    },
                );
            }
        }
    }

    fn wrong_type(&mut self, item: &Item<'_>, field: String, expected: &'static str) {
        let found = type_name(item.get_ref());
        self.ctx.error(
            item.span(),
            ErrorKind::WrongType {
                field,
                expected,
                found,
            },
        );
    }

    fn string(&mut self, table: &DeTable<'_>, path: &str, key: &str) -> Option<Str> {
        let item = table.get(key)?;
        match item.get_ref() {
            DeValue::String(s) => Some((s.to_string(), item.span())),
            _ => {
                self.wrong_type(item, join_field(path, key), "a string");
                None
            }
        }
    }

    fn required_string(
        &mut self,
        table: &DeTable<'_>,
        table_span: &Range<usize>,
        path: &str,
        key: &str,
    ) -> Option<Str> {
        if table.get(key).is_none() {
            self.ctx.error(
                table_span.clone(),
                ErrorKind::MissingField {
                    field: join_field(path, key),
                },
            );
            return None;
        }
        self.string(table, path, key)
    }

    /// A string or an array of strings.
    fn strings(&mut self, table: &DeTable<'_>, path: &str, key: &str) -> Option<Vec<Str>> {
        let item = table.get(key)?;
        let field = join_field(path, key);
        match item.get_ref() {
            DeValue::String(s) => Some(vec![(s.to_string(), item.span())]),
            DeValue::Array(array) => {
                let mut out = Vec::with_capacity(array.len());
                for element in array {
                    match element.get_ref() {
                        DeValue::String(s) => out.push((s.to_string(), element.span())),
                        _ => self.wrong_type(element, field.clone(), "an array of strings"),
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong_type(item, field, "an array of strings");
                None
            }
        }
    }

    fn boolean(&mut self, table: &DeTable<'_>, path: &str, key: &str) -> Option<bool> {
        let item = table.get(key)?;
        match item.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(item, join_field(path, key), "a boolean (true or false)");
                None
            }
        }
    }

    fn unsigned(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<(u64, Range<usize>)> {
        let item = table.get(key)?;
        let field = join_field(path, key);
        let DeValue::Integer(int) = item.get_ref() else {
            self.wrong_type(item, field, "an integer");
            return None;
        };
        match u64::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some((n, item.span())),
            _ => {
                self.ctx.error(
                    item.span(),
                    ErrorKind::InvalidValue {
                        field,
                        value: int.to_string(),
                        reason: format!("must be an integer from {min} to {max}"),
                    },
                );
                None
            }
        }
    }

    fn table<'a, 'i>(
        &mut self,
        parent: &'a DeTable<'i>,
        path: &str,
        key: &str,
    ) -> Option<(&'a DeTable<'i>, Range<usize>)> {
        let item = parent.get(key)?;
        match item.get_ref() {
            DeValue::Table(table) => Some((table, item.span())),
            _ => {
                self.wrong_type(item, join_field(path, key), "a table");
                None
            }
        }
    }

    /// `[[key]]`: an array of tables.
    fn tables<'a, 'i>(
        &mut self,
        parent: &'a DeTable<'i>,
        key: &str,
    ) -> Vec<(&'a DeTable<'i>, Range<usize>)> {
        let Some(item) = parent.get(key) else {
            return Vec::new();
        };
        let expected = "an array of tables (write each as [[...]])";
        let DeValue::Array(array) = item.get_ref() else {
            self.wrong_type(item, key.into(), expected);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(array.len());
        for element in array {
            match element.get_ref() {
                DeValue::Table(table) => out.push((table, element.span())),
                _ => self.wrong_type(element, key.into(), expected),
            }
        }
        out
    }

    fn name<T: Copy>(
        &mut self,
        (value, span): &Str,
        field: &str,
        what: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        all: &[&str],
    ) -> Option<T> {
        let parsed = parse(value);
        if parsed.is_none() {
            self.ctx.error(
                span.clone(),
                ErrorKind::UnknownName {
                    field: field.into(),
                    what,
                    value: value.clone(),
                    expected: all.join(", "),
                },
            );
        }
        parsed
    }

    fn level_ref(&mut self, levels: &[Level], (value, span): &Str, field: &str) -> Option<LevelId> {
        match levels.iter().position(|l| &l.id == value) {
            Some(rank) => Some(LevelId(rank as u16)),
            None => {
                self.ctx.error(
                    span.clone(),
                    ErrorKind::UnknownLevel {
                        field: field.into(),
                        level: value.clone(),
                        defined: levels
                            .iter()
                            .rev()
                            .map(|l| l.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                );
                None
            }
        }
    }

    fn globs(
        &mut self,
        patterns: &[Str],
        field: &str,
        literal_separator: bool,
        case_insensitive: bool,
    ) -> Vec<globset::Glob> {
        let mut globs = Vec::with_capacity(patterns.len());
        for (pattern, span) in patterns {
            match GlobBuilder::new(pattern)
                .literal_separator(literal_separator)
                .case_insensitive(case_insensitive)
                .build()
            {
                Ok(glob) => globs.push(glob),
                Err(e) => self.bad_glob(span, field, pattern, &e),
            }
        }
        globs
    }

    fn bad_glob(&mut self, span: &Range<usize>, field: &str, pattern: &str, e: &globset::Error) {
        self.ctx.error(
            span.clone(),
            ErrorKind::BadGlob {
                field: field.into(),
                pattern: pattern.into(),
                reason: e.kind().to_string(),
            },
        );
    }

    fn unreachable(&mut self, span: &Range<usize>, field: &str, rule: &str, why: String) {
        self.ctx.error(
            span.clone(),
            ErrorKind::UnreachableRule {
                field: field.into(),
                rule: rule.into(),
                why,
            },
        );
    }

    fn rule_path(table: &DeTable<'_>, section: &str, index: usize) -> String {
        match table.get("id").map(|v| v.get_ref()) {
            Some(DeValue::String(id)) if is_rule_id(id) => format!("{section}.{id}"),
            _ => format!("{section}#{}", index + 1),
        }
    }

    // ----- sections --------------------------------------------------------------------------

    fn load(mut self, root: &Spanned<DeTable<'_>>) -> Option<Policy> {
        let root_span = 0..0;
        let root = root.get_ref();
        self.check_keys(
            root,
            "",
            &[
                "policy",
                "level",
                "classification",
                "internal",
                "classify",
                "rule",
            ],
        );

        // [policy]
        let mut name = String::new();
        let mut version = None;
        let mut default_action = Action::Audit;
        match self.table(root, "", "policy") {
            Some((table, span)) => {
                self.check_keys(
                    table,
                    "policy",
                    &["name", "version", "description", "default_action"],
                );
                if let Some((n, _)) = self.string(table, "policy", "name") {
                    name = n;
                }
                let _ = self.string(table, "policy", "description");
                if table.get("version").is_none() {
                    self.ctx.error(
                        span.clone(),
                        ErrorKind::MissingField {
                            field: "policy.version".into(),
                        },
                    );
                }
                version = self
                    .unsigned(table, "policy", "version", 1, u64::MAX)
                    .map(|(v, _)| v);
                if let Some(action) = self.string(table, "policy", "default_action")
                    && let Some(a) = self.name(
                        &action,
                        "policy.default_action",
                        "action",
                        Action::parse,
                        &action_names(),
                    )
                {
                    default_action = a;
                }
            }
            None if root.get("policy").is_none() => self.ctx.error(
                root_span.clone(),
                ErrorKind::MissingField {
                    field: "policy".into(),
                },
            ),
            None => {}
        }

        // [[level]], written from the highest to the lowest; stored lowest first.
        let mut levels = Vec::new();
        let mut level_lines: HashMap<String, usize> = HashMap::new();
        let level_tables = self.tables(root, "level");
        if level_tables.is_empty() && root.get("level").is_none() {
            self.ctx.error(
                root_span.clone(),
                ErrorKind::MissingField {
                    field: "level".into(),
                },
            );
        }
        if level_tables.len() > MAX_LEVELS {
            let span = level_tables[MAX_LEVELS].1.clone();
            self.ctx.error(
                span,
                ErrorKind::InvalidValue {
                    field: "level".into(),
                    value: level_tables.len().to_string(),
                    reason: format!("a policy may define at most {MAX_LEVELS} levels"),
                },
            );
            return None;
        }
        for (index, (table, span)) in level_tables.iter().enumerate() {
            let path = Self::rule_path(table, "level", index);
            self.check_keys(table, &path, &["id", "ja", "en", "description"]);
            let id = self.required_string(table, span, &path, "id");
            let ja = self.required_string(table, span, &path, "ja");
            let en = self.required_string(table, span, &path, "en");
            let _ = self.string(table, &path, "description");
            let Some((id, id_span)) = id else { continue };
            if !is_level_id(&id) {
                self.ctx.error(
                    id_span.clone(),
                    ErrorKind::InvalidValue {
                        field: format!("{path}.id"),
                        value: id.clone(),
                        reason: "a level id is lower-case ASCII letters, digits, `_` and `-`, starting with a letter".into(),
                    },
                );
            }
            let line = self.ctx.line(&id_span);
            if let Some(&first_line) = level_lines.get(&id) {
                self.ctx.error(
                    id_span,
                    ErrorKind::DuplicateId {
                        field: format!("{path}.id"),
                        id,
                        first_line,
                    },
                );
                continue;
            }
            level_lines.insert(id.clone(), line);
            levels.push(Level {
                id,
                ja: ja.map(|s| s.0).unwrap_or_default(),
                en: en.map(|s| s.0).unwrap_or_default(),
            });
        }
        levels.reverse();

        // [classification]
        let mut default_level = LevelId(0);
        if let Some((table, _)) = self.table(root, "", "classification") {
            self.check_keys(table, "classification", &["default_level"]);
            if let Some(level) = self.string(table, "classification", "default_level")
                && let Some(id) = self.level_ref(&levels, &level, "classification.default_level")
            {
                default_level = id;
            }
        }

        // [internal]
        let mut internal_mail_domains = Vec::new();
        if let Some((table, _)) = self.table(root, "", "internal") {
            self.check_keys(table, "internal", &["mail_domains"]);
            for (domain, span) in self
                .strings(table, "internal", "mail_domains")
                .unwrap_or_default()
            {
                let domain = domain.to_lowercase();
                if is_domain_pattern(&domain) {
                    internal_mail_domains.push(domain);
                } else {
                    self.invalid_domain(span, "internal.mail_domains", domain);
                }
            }
        }

        let classify_tables = self.tables(root, "classify");
        let rule_tables = self.tables(root, "rule");
        if classify_tables.len() + rule_tables.len() > MAX_RULES {
            self.ctx.error(
                root_span,
                ErrorKind::InvalidValue {
                    field: "rule".into(),
                    value: (classify_tables.len() + rule_tables.len()).to_string(),
                    reason: format!("a policy may define at most {MAX_RULES} rules"),
                },
            );
            return None;
        }
        let rule_lines = first_id_lines(&classify_tables, &rule_tables, self.ctx);

        // [[classify]]
        let mut classify_rules = Vec::new();
        let mut path_globs = GlobSetBuilder::new();
        let mut path_glob_owner = Vec::new();
        for (index, (table, span)) in classify_tables.iter().enumerate() {
            let path = Self::rule_path(table, "classify", index);
            if let Some((rule, globs)) =
                self.classify_rule(table, span, &path, &levels, default_level, &rule_lines)
            {
                for (pattern, glob) in globs {
                    path_globs.add(glob);
                    path_glob_owner.push((classify_rules.len(), pattern));
                }
                classify_rules.push(rule);
            }
        }

        // [[rule]]
        let mut raw_rules = Vec::new();
        for (index, (table, span)) in rule_tables.iter().enumerate() {
            let path = Self::rule_path(table, "rule", index);
            if let Some(raw) = self.decision_rule(
                table,
                span,
                &path,
                &levels,
                &internal_mail_domains,
                &rule_lines,
            ) {
                raw_rules.push(raw);
            }
        }

        let version = version?;
        if !self.ctx.errors.is_empty() || levels.is_empty() {
            return None;
        }
        let path_globs = path_globs.build().ok()?;
        Some(compile(
            Policy {
                name,
                version,
                levels,
                default_level,
                default_action,
                internal_mail_domains,
                classify_rules,
                path_globs,
                path_glob_owner,
                rules: Vec::new(),
                buckets: Vec::new(),
                reasons: crate::reason::Templates::new(),
                destination_globs: [(); 3].map(|_| GlobIndex {
                    set: GlobSet::empty(),
                    owner: Vec::new(),
                }),
            },
            raw_rules,
        ))
    }

    fn invalid_domain(&mut self, span: Range<usize>, field: &str, domain: String) {
        self.ctx.error(
            span,
            ErrorKind::InvalidValue {
                field: field.into(),
                value: domain,
                reason: "expected a domain such as example.co.jp or *.example.co.jp".into(),
            },
        );
    }

    fn rule_id(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        seen: &HashMap<String, (usize, usize)>,
    ) -> Option<(String, usize)> {
        let (id, id_span) = self.required_string(table, span, path, "id")?;
        if !is_rule_id(&id) {
            self.ctx.error(
                id_span,
                ErrorKind::InvalidValue {
                    field: format!("{path}.id"),
                    value: id,
                    reason: "a rule id is 1 to 128 ASCII letters, digits, `_`, `-`, `.` and `:`"
                        .into(),
                },
            );
            return None;
        }
        if let Some(&(first_line, first_start)) = seen.get(&id) {
            // Ids are unique across classification and decision rules; the earlier one in the
            // file keeps it (see `first_id_lines`).
            if first_start != id_span.start {
                self.ctx.error(
                    id_span,
                    ErrorKind::DuplicateId {
                        field: format!("{path}.id"),
                        id,
                        first_line,
                    },
                );
                return None;
            }
        }
        Some((id, self.ctx.line(span).max(1)))
    }

    #[allow(clippy::type_complexity)]
    fn classify_rule(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        levels: &[Level],
        default_level: LevelId,
        seen: &HashMap<String, (usize, usize)>,
    ) -> Option<(ClassifyRule, Vec<(String, globset::Glob)>)> {
        self.check_keys(
            table,
            path,
            &[
                "id",
                "description",
                "level",
                "detectors",
                "categories",
                "min_count",
                "min_confidence",
                "paths",
                "uninspectable",
            ],
        );
        let id = self.rule_id(table, span, path, seen);
        let _ = self.string(table, path, "description");
        let level_field = join_field(path, "level");
        let level = self
            .required_string(table, span, path, "level")
            .and_then(|l| self.level_ref(levels, &l, &level_field).map(|id| (id, l.1)));

        let detectors = self.strings(table, path, "detectors");
        let categories = self.strings(table, path, "categories");
        let mut detector_ids = Vec::new();
        for (detector, dspan) in detectors.iter().flatten() {
            let known = match self.options.known_detector {
                Some(known) => known(detector),
                None => is_detector_id_shape(detector),
            };
            if known {
                detector_ids.push(detector.clone());
            } else {
                self.ctx.error(
                    dspan.clone(),
                    ErrorKind::UnknownDetector {
                        field: join_field(path, "detectors"),
                        detector: detector.clone(),
                    },
                );
            }
        }
        let category_names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        let mut category_ids = Vec::new();
        for category in categories.iter().flatten() {
            if let Some(c) = self.name(
                category,
                &join_field(path, "categories"),
                "category",
                Category::parse,
                &category_names,
            ) {
                category_ids.push(c);
            }
        }
        let min_count = self.unsigned(table, path, "min_count", 1, u64::from(u32::MAX));
        let min_confidence = self.string(table, path, "min_confidence").and_then(|c| {
            self.name(
                &c,
                &join_field(path, "min_confidence"),
                "confidence",
                parse_confidence,
                &["low", "medium", "high"],
            )
        });
        let has_finding_condition = detectors.is_some() || categories.is_some();
        if !has_finding_condition {
            for key in ["min_count", "min_confidence"] {
                if let Some(item) = table.get(key) {
                    self.ctx.error(
                        item.span(),
                        ErrorKind::InvalidValue {
                            field: join_field(path, key),
                            value: key.into(),
                            reason: "needs `detectors` or `categories` to count".into(),
                        },
                    );
                }
            }
        }

        let paths_field = join_field(path, "paths");
        let mut globs = Vec::new();
        let paths = self.strings(table, path, "paths");
        for (pattern, pspan) in paths.iter().flatten() {
            match GlobBuilder::new(pattern).literal_separator(true).build() {
                Ok(glob) => globs.push((pattern.clone(), glob)),
                Err(e) => self.bad_glob(pspan, &paths_field, pattern, &e),
            }
        }

        let uninspectable_field = join_field(path, "uninspectable");
        let uninspectable = self.strings(table, path, "uninspectable").map(|kinds| {
            let mut out = Vec::new();
            for kind in &kinds {
                if let Some(k) = self.name(
                    kind,
                    &uninspectable_field,
                    "uninspectable kind",
                    |k| UNINSPECTABLE_KINDS.iter().position(|n| *n == k),
                    &UNINSPECTABLE_KINDS,
                ) {
                    out.push(UNINSPECTABLE_KINDS[k].to_owned());
                }
            }
            out
        });

        let (id, line) = id?;
        let (level, level_span) = level?;
        let findings = has_finding_condition.then(|| FindingCondition {
            detectors: detector_ids,
            categories: category_ids,
            min_count: min_count.map_or(1, |(n, _)| n as u32),
            min_confidence: min_confidence.unwrap_or(Confidence::Low),
        });

        // Reachability.
        if level <= default_level {
            let why = format!(
                "its level `{}` is not above the default level `{}`",
                levels[level.rank()].id,
                levels[default_level.rank()].id
            );
            self.unreachable(&level_span, &level_field, &id, why);
        }
        let mut empty_keys = Vec::new();
        for key in ["detectors", "categories", "paths", "uninspectable"] {
            if let Some(item) = table.get(key)
                && matches!(item.get_ref(), DeValue::Array(a) if a.is_empty())
            {
                empty_keys.push((key, item.span()));
            }
        }
        let finding_lists_empty = detectors.as_ref().is_none_or(Vec::is_empty)
            && categories.as_ref().is_none_or(Vec::is_empty);
        for (key, kspan) in &empty_keys {
            let matters = match *key {
                "detectors" | "categories" => finding_lists_empty,
                _ => true,
            };
            if matters {
                self.unreachable(
                    kspan,
                    &join_field(path, key),
                    &id,
                    format!("`{key}` is an empty list"),
                );
            }
        }
        if findings.is_none() && paths.is_none() && uninspectable.is_none() {
            self.unreachable(
                span,
                path,
                &id,
                "it has no condition (detectors, categories, paths or uninspectable); use [classification] default_level to set the level of everything".into(),
            );
        }
        Some((
            ClassifyRule {
                id,
                level,
                line,
                findings,
                paths: globs.iter().map(|(p, _)| p.clone()).collect(),
                uninspectable,
            },
            globs,
        ))
    }

    fn decision_rule(
        &mut self,
        table: &DeTable<'_>,
        span: &Range<usize>,
        path: &str,
        levels: &[Level],
        internal_mail_domains: &[String],
        seen: &HashMap<String, (usize, usize)>,
    ) -> Option<RawRule> {
        self.check_keys(
            table,
            path,
            &[
                "id",
                "description",
                "levels",
                "min_level",
                "channels",
                "action",
                "exception",
                "final",
                "users",
                "groups",
                "except_users",
                "except_groups",
                "usb",
                "mail_to",
                "mail_domains",
                "url_domains",
                "urls",
                "printers",
                "shares",
                "message",
            ],
        );
        let id = self.rule_id(table, span, path, seen);
        let description = self
            .string(table, path, "description")
            .map(|d| d.0)
            .unwrap_or_default();

        // Levels.
        let level_list = self.strings(table, path, "levels");
        let min_level = self.string(table, path, "min_level");
        let mut level_mask = vec![level_list.is_none(); levels.len()];
        if let Some(list) = &level_list {
            for level in list {
                if let Some(l) = self.level_ref(levels, level, &join_field(path, "levels")) {
                    level_mask[l.rank()] = true;
                }
            }
        }
        if let Some(min) = &min_level {
            if level_list.is_some() {
                self.ctx.error(
                    min.1.clone(),
                    ErrorKind::InvalidValue {
                        field: join_field(path, "min_level"),
                        value: min.0.clone(),
                        reason: "give either `levels` or `min_level`, not both".into(),
                    },
                );
            } else if let Some(l) = self.level_ref(levels, min, &join_field(path, "min_level")) {
                for (rank, slot) in level_mask.iter_mut().enumerate() {
                    *slot = rank >= l.rank();
                }
            }
        }

        // Channels.
        let channel_names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        let channel_list = self.strings(table, path, "channels");
        let mut channel_mask = [channel_list.is_none(); 7];
        if let Some(list) = &channel_list {
            for channel in list {
                if let Some(c) = self.name(
                    channel,
                    &join_field(path, "channels"),
                    "channel",
                    Channel::parse,
                    &channel_names,
                ) {
                    channel_mask[c as usize] = true;
                }
            }
        }

        // Action and kind.
        let action = self
            .required_string(table, span, path, "action")
            .and_then(|a| {
                self.name(
                    &a,
                    &join_field(path, "action"),
                    "action",
                    Action::parse,
                    &action_names(),
                )
            });
        let exception = self.boolean(table, path, "exception").unwrap_or(false);
        let is_final = self.boolean(table, path, "final").unwrap_or(false);
        if exception && is_final {
            let span = table.get("final").map_or(span.clone(), |v| v.span());
            self.ctx.error(
                span,
                ErrorKind::InvalidValue {
                    field: join_field(path, "final"),
                    value: "true".into(),
                    reason: "a rule cannot be both an exception and final".into(),
                },
            );
        }
        let kind = if is_final {
            RuleKind::Final
        } else if exception {
            RuleKind::Exception
        } else {
            RuleKind::Ordinary
        };

        // Principals.
        let list = |this: &mut Self, key: &str| -> Vec<String> {
            this.strings(table, path, key)
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.0)
                .collect()
        };
        let principal = PrincipalCondition {
            users: list(self, "users"),
            groups: list(self, "groups"),
            except_users: list(self, "except_users"),
            except_groups: list(self, "except_groups"),
        };

        // Destinations.
        let mut destination = DestinationCondition::default();
        for (pattern, pspan) in self.strings(table, path, "usb").unwrap_or_default() {
            match UsbPattern::parse(&pattern) {
                Some(p) => destination.usb.push(p),
                None => self.ctx.error(
                    pspan,
                    ErrorKind::InvalidValue {
                        field: join_field(path, "usb"),
                        value: pattern,
                        reason: "expected VENDOR:PRODUCT[:SERIAL] with 4-digit hex ids or `*`, like 0781:5581 or 0781:*".into(),
                    },
                ),
            }
        }
        let mail_to_field = join_field(path, "mail_to");
        if let Some(mail_to) = self.string(table, path, "mail_to") {
            destination.mail_to = self.name(
                &mail_to,
                &mail_to_field,
                "mail destination",
                |m| match m {
                    "internal" => Some(MailTo::Internal),
                    "external" => Some(MailTo::External),
                    _ => None,
                },
                &["internal", "external"],
            );
        }
        for key in ["mail_domains", "url_domains"] {
            let field = join_field(path, key);
            for (domain, dspan) in self.strings(table, path, key).unwrap_or_default() {
                let domain = domain.to_lowercase();
                if !is_domain_pattern(&domain) {
                    self.invalid_domain(dspan, &field, domain);
                } else if key == "mail_domains" {
                    destination.mail_domains.push(domain);
                } else {
                    destination.url_domains.push(domain);
                }
            }
        }
        let urls = self.strings(table, path, "urls").unwrap_or_default();
        destination.urls = self.globs(&urls, &join_field(path, "urls"), true, false);
        let printers = self.strings(table, path, "printers").unwrap_or_default();
        destination.printers = self.globs(&printers, &join_field(path, "printers"), false, true);
        let shares = self.strings(table, path, "shares").unwrap_or_default();
        destination.shares = self.globs(&shares, &join_field(path, "shares"), true, false);

        // Message.
        let mut message = None;
        if let Some((mtable, mspan)) = self.table(table, path, "message") {
            let mpath = join_field(path, "message");
            self.check_keys(mtable, &mpath, &["ja", "en"]);
            let ja = self.required_string(mtable, &mspan, &mpath, "ja");
            let en = self.required_string(mtable, &mspan, &mpath, "en");
            if let (Some(ja), Some(en)) = (ja, en) {
                message = Some(Bilingual::new(ja.0, en.0));
            }
        }

        let (id, line) = id?;
        let action = action?;

        // Reachability.
        for (key, list_len) in [
            ("levels", level_list.as_ref().map(Vec::len)),
            ("channels", channel_list.as_ref().map(Vec::len)),
        ] {
            if list_len == Some(0) {
                let kspan = table.get(key).map_or(span.clone(), |v| v.span());
                self.unreachable(
                    &kspan,
                    &join_field(path, key),
                    &id,
                    format!("`{key}` is an empty list"),
                );
            }
        }
        if let Some(dest_channels) = destination.channels() {
            let mut effective = [false; 7];
            for c in &dest_channels {
                effective[*c as usize] = channel_mask[*c as usize];
            }
            if channel_list.as_ref().is_some_and(|l| !l.is_empty()) && !effective.contains(&true) {
                let names: Vec<&str> = dest_channels.iter().map(|c| c.as_str()).collect();
                let given: Vec<&str> = channel_list
                    .iter()
                    .flatten()
                    .map(|c| c.0.as_str())
                    .collect();
                self.unreachable(
                    span,
                    &join_field(path, "channels"),
                    &id,
                    format!(
                        "its destination conditions apply only to {}, but its channels are {}",
                        names.join(", "),
                        given.join(", ")
                    ),
                );
            } else if dest_channels.len() > 1 {
                let names: Vec<&str> = dest_channels.iter().map(|c| c.as_str()).collect();
                self.unreachable(
                    span,
                    path,
                    &id,
                    format!("it has destination conditions of different channels ({}), which no single destination meets", names.join(", ")),
                );
            }
            channel_mask = effective;
        }
        if destination.mail_to == Some(MailTo::Internal) && internal_mail_domains.is_empty() {
            let mspan = table.get("mail_to").map_or(span.clone(), |v| v.span());
            self.unreachable(
                &mspan,
                &mail_to_field,
                &id,
                "`mail_to = \"internal\"` but [internal] mail_domains is empty".into(),
            );
        }
        if !principal.users.is_empty()
            && principal.groups.is_empty()
            && principal
                .users
                .iter()
                .all(|u| principal.except_users.contains(u))
        {
            let uspan = table.get("users").map_or(span.clone(), |v| v.span());
            self.unreachable(
                &uspan,
                &join_field(path, "users"),
                &id,
                "every user in `users` is also in `except_users`".into(),
            );
        }
        if !principal.groups.is_empty()
            && principal.users.is_empty()
            && principal
                .groups
                .iter()
                .all(|g| principal.except_groups.contains(g))
        {
            let gspan = table.get("groups").map_or(span.clone(), |v| v.span());
            self.unreachable(
                &gspan,
                &join_field(path, "groups"),
                &id,
                "every group in `groups` is also in `except_groups`".into(),
            );
        }
        let unconditional = principal.is_empty() && destination.is_empty();
        Some(RawRule {
            rule: Rule {
                id,
                kind,
                action,
                description,
                message,
                line,
                id_rank: 0,
                principal,
                destination,
                unconditional,
            },
            levels: level_mask,
            channels: channel_mask,
        })
    }
}

fn action_names() -> Vec<&'static str> {
    Action::ALL.iter().map(|a| a.as_str()).collect()
}

fn parse_confidence(name: &str) -> Option<Confidence> {
    match name {
        "low" => Some(Confidence::Low),
        "medium" => Some(Confidence::Medium),
        "high" => Some(Confidence::High),
        _ => None,
    }
}

/// The line where each rule id first appears, over `[[classify]]` and `[[rule]]` together, so
/// that a duplicate is reported on the later occurrence whichever section comes first.
fn first_id_lines(
    classify: &[(&DeTable<'_>, Range<usize>)],
    rules: &[(&DeTable<'_>, Range<usize>)],
    ctx: &Ctx<'_>,
) -> HashMap<String, (usize, usize)> {
    let mut ids: Vec<(usize, String)> = classify
        .iter()
        .chain(rules)
        .filter_map(|(table, _)| {
            let item = table.get("id")?;
            match item.get_ref() {
                DeValue::String(id) => Some((item.span().start, id.to_string())),
                _ => None,
            }
        })
        .collect();
    ids.sort();
    let mut first = HashMap::new();
    for (start, id) in ids {
        first
            .entry(id)
            .or_insert_with(|| (ctx.position(start).0, start));
    }
    first
}

/// Builds the per-(channel, level) index of decision rules.
fn compile(mut policy: Policy, raw: Vec<RawRule>) -> Policy {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[a].rule.id.cmp(&raw[b].rule.id));
    let mut id_rank = vec![0u32; raw.len()];
    for (rank, &index) in order.iter().enumerate() {
        id_rank[index] = rank as u32;
    }
    let n_levels = policy.levels.len();
    let mut buckets = vec![Bucket::default(); Channel::ALL.len() * n_levels];
    for (index, raw_rule) in raw.iter().enumerate() {
        for channel in Channel::ALL {
            if !raw_rule.channels[channel as usize] {
                continue;
            }
            for (rank, _) in raw_rule.levels.iter().enumerate().filter(|(_, on)| **on) {
                let bucket = &mut buckets[channel as usize * n_levels + rank];
                if raw_rule.rule.unconditional {
                    bucket.unconditional.push(index as u32);
                    let slot = &mut bucket.unconditional_best[raw_rule.rule.kind as usize];
                    let candidate = (raw_rule.rule.action, id_rank[index], index as u32);
                    if slot.is_none_or(|(action, rank, _)| {
                        candidate.0 > action || (candidate.0 == action && candidate.1 < rank)
                    }) {
                        *slot = Some(candidate);
                    }
                } else {
                    bucket.conditional.push(index as u32);
                }
            }
        }
    }
    let mut builders = [(); 3].map(|_| (GlobSetBuilder::new(), Vec::new()));
    for (index, raw_rule) in raw.iter().enumerate() {
        let d = &raw_rule.rule.destination;
        for (kind, globs) in [
            (GlobIndex::URLS, &d.urls),
            (GlobIndex::PRINTERS, &d.printers),
            (GlobIndex::SHARES, &d.shares),
        ] {
            for glob in globs {
                builders[kind].0.add(glob.clone());
                builders[kind].1.push(index as u32);
            }
        }
    }
    for (kind, (builder, owner)) in builders.into_iter().enumerate() {
        // Every glob compiled on its own when the rule was read, so the set compiles too.
        if let Ok(set) = builder.build() {
            policy.destination_globs[kind] = GlobIndex { set, owner };
        }
    }
    policy.rules = raw
        .into_iter()
        .zip(id_rank)
        .map(|(raw_rule, rank)| Rule {
            id_rank: rank,
            ..raw_rule.rule
        })
        .collect();
    policy.buckets = buckets;
    policy
}

//! The compiled policy: levels, classification rules and decision rules.

use std::fmt;

use globset::GlobSet;
use mamori_model::{Action, Bilingual, Category, Channel, Confidence};

use crate::destination::{Principal, UsbPattern};

/// A classification level, by rank: a greater `LevelId` is more secret.
///
/// Only meaningful with the [`Policy`] that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelId(pub(crate) u16);

impl LevelId {
    /// The rank of the level: 0 for the lowest (least secret).
    pub fn rank(self) -> usize {
        usize::from(self.0)
    }
}

/// A classification level defined by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Stable id, used in rules, labels, the journal and JSON (`top_secret`).
    pub id: String,
    /// The Japanese name (`極秘`).
    pub ja: String,
    /// The English name (`Top secret`).
    pub en: String,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} / {})", self.id, self.ja, self.en)
    }
}

/// How a decision rule combines with the others. See the crate documentation for the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RuleKind {
    /// An ordinary rule: the most restrictive matching one wins.
    Ordinary,
    /// An exception: when any exception matches, the ordinary rules are set aside and the most
    /// restrictive matching exception decides instead. Exceptions can relax a decision.
    Exception,
    /// A final rule: always counts, exceptions cannot relax it.
    Final,
}

impl RuleKind {
    /// `rule`, `exception` or `final`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Ordinary => "rule",
            RuleKind::Exception => "exception",
            RuleKind::Final => "final",
        }
    }
}

/// Mail recipients inside or outside the organisation (policy `[internal] mail_domains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailTo {
    Internal,
    External,
}

/// Conditions of a decision rule on the principal.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrincipalCondition {
    pub(crate) users: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) except_users: Vec<String>,
    pub(crate) except_groups: Vec<String>,
}

impl PrincipalCondition {
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.groups.is_empty()
            && self.except_users.is_empty()
            && self.except_groups.is_empty()
    }

    pub(crate) fn matches(&self, principal: &Principal) -> bool {
        let in_groups = |groups: &[String]| groups.iter().any(|g| principal.groups.contains(g));
        if (!self.users.is_empty() || !self.groups.is_empty())
            && !self.users.contains(&principal.user)
            && !in_groups(&self.groups)
        {
            return false;
        }
        !self.except_users.contains(&principal.user) && !in_groups(&self.except_groups)
    }
}

/// Conditions of a decision rule on the destination. Each non-empty condition must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct DestinationCondition {
    pub(crate) usb: Vec<UsbPattern>,
    pub(crate) mail_to: Option<MailTo>,
    pub(crate) mail_domains: Vec<String>,
    pub(crate) url_domains: Vec<String>,
    /// Compiled here for validation; matched through [`Policy::destination_globs`].
    pub(crate) urls: Vec<globset::Glob>,
    pub(crate) printers: Vec<globset::Glob>,
    pub(crate) shares: Vec<globset::Glob>,
}

impl DestinationCondition {
    pub(crate) fn is_empty(&self) -> bool {
        self.usb.is_empty()
            && self.mail_to.is_none()
            && self.mail_domains.is_empty()
            && self.url_domains.is_empty()
            && self.urls.is_empty()
            && self.printers.is_empty()
            && self.shares.is_empty()
    }

    /// The channels on which this condition can hold; `None` when it has no condition.
    pub(crate) fn channels(&self) -> Option<Vec<Channel>> {
        let mut channels = Vec::new();
        if !self.usb.is_empty() {
            channels.push(Channel::RemovableMedia);
        }
        if self.mail_to.is_some() || !self.mail_domains.is_empty() {
            channels.push(Channel::Mail);
        }
        if !self.url_domains.is_empty() || !self.urls.is_empty() {
            channels.push(Channel::WebUpload);
        }
        if !self.printers.is_empty() {
            channels.push(Channel::Print);
        }
        if !self.shares.is_empty() {
            channels.push(Channel::NetworkShare);
        }
        (!channels.is_empty()).then_some(channels)
    }
}

/// A decision rule: for content of some levels, on some channels, for some principals and
/// destinations, an action.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) kind: RuleKind,
    pub(crate) action: Action,
    pub(crate) description: String,
    pub(crate) message: Option<Bilingual>,
    pub(crate) line: usize,
    /// Position of the id in the sorted list of ids: ties between equally restrictive rules go to
    /// the smallest id, so the result never depends on the order rules are written in.
    pub(crate) id_rank: u32,
    pub(crate) principal: PrincipalCondition,
    pub(crate) destination: DestinationCondition,
    pub(crate) unconditional: bool,
}

impl Rule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Ordinary, exception or final.
    pub fn kind(&self) -> RuleKind {
        self.kind
    }
    /// The action it asks for.
    pub fn action(&self) -> Action {
        self.action
    }
    /// The author's description (may be empty).
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The line of the policy file the rule starts on.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// A condition of a classification rule on the inspection findings.
#[derive(Debug, Clone)]
pub(crate) struct FindingCondition {
    pub(crate) detectors: Vec<String>,
    pub(crate) categories: Vec<Category>,
    pub(crate) min_count: u32,
    pub(crate) min_confidence: Confidence,
}

/// A classification rule: content meeting its conditions is at least its level.
#[derive(Debug, Clone)]
pub struct ClassifyRule {
    pub(crate) id: String,
    pub(crate) level: LevelId,
    pub(crate) line: usize,
    pub(crate) findings: Option<FindingCondition>,
    pub(crate) paths: Vec<String>,
    pub(crate) uninspectable: Option<Vec<String>>,
}

impl ClassifyRule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The level it gives.
    pub fn level(&self) -> LevelId {
        self.level
    }
    /// The line of the policy file the rule starts on.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// The decision rules relevant to one channel and one level.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Rules without principal or destination conditions, in file order: they always match.
    pub(crate) unconditional: Vec<u32>,
    /// The best (action, id rank, index) of the unconditional rules, per [`RuleKind`].
    pub(crate) unconditional_best: [Option<(Action, u32, u32)>; 3],
    /// Rules with principal or destination conditions, in file order.
    pub(crate) conditional: Vec<u32>,
}

/// A loaded, validated and compiled policy. Immutable; share it behind an `Arc`.
///
/// Build one with [`Policy::from_toml`] or [`Policy::default_policy`].
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) version: u64,
    /// By rank: the lowest level first.
    pub(crate) levels: Vec<Level>,
    pub(crate) default_level: LevelId,
    pub(crate) default_action: Action,
    pub(crate) internal_mail_domains: Vec<String>,
    pub(crate) classify_rules: Vec<ClassifyRule>,
    /// Every `paths` glob of every classification rule, compiled together.
    pub(crate) path_globs: GlobSet,
    /// For each glob of `path_globs`: the classification rule and the pattern text.
    pub(crate) path_glob_owner: Vec<(usize, String)>,
    pub(crate) rules: Vec<Rule>,
    /// `[channel index * levels + level rank]`.
    pub(crate) buckets: Vec<Bucket>,
    pub(crate) reasons: crate::reason::Templates,
    /// The `urls`, `printers` and `shares` globs of every decision rule, each kind compiled
    /// into one set, so a decision runs one glob match per destination, not one per rule.
    pub(crate) destination_globs: [GlobIndex; 3],
}

/// Globs of many rules in one set, with the rule each glob belongs to.
#[derive(Debug, Clone)]
pub(crate) struct GlobIndex {
    pub(crate) set: GlobSet,
    pub(crate) owner: Vec<u32>,
}

impl GlobIndex {
    pub(crate) const URLS: usize = 0;
    pub(crate) const PRINTERS: usize = 1;
    pub(crate) const SHARES: usize = 2;

    /// Indexes of the rules with a glob matching `candidate`, sorted, without repeats.
    pub(crate) fn rules_matching(&self, candidate: &globset::Candidate<'_>) -> Vec<u32> {
        if self.owner.is_empty() {
            return Vec::new();
        }
        let mut rules: Vec<u32> = self
            .set
            .matches_candidate(candidate)
            .into_iter()
            .map(|g| self.owner[g])
            .collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

impl Policy {
    /// The policy's name (`[policy] name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's version (`[policy] version`): agents refuse to go back to an older one.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The levels, from the lowest (least secret) to the highest.
    pub fn levels(&self) -> impl DoubleEndedIterator<Item = (LevelId, &Level)> + ExactSizeIterator {
        self.levels
            .iter()
            .enumerate()
            .map(|(rank, level)| (LevelId(rank as u16), level))
    }

    /// The level with this id.
    pub fn level_id(&self, id: &str) -> Option<LevelId> {
        self.levels
            .iter()
            .position(|l| l.id == id)
            .map(|rank| LevelId(rank as u16))
    }

    /// The definition of a level.
    ///
    /// # Panics
    /// If `id` comes from another policy with more levels.
    pub fn level(&self, id: LevelId) -> &Level {
        &self.levels[id.rank()]
    }

    /// The level of content nothing classifies (`[classification] default_level`).
    pub fn default_level(&self) -> LevelId {
        self.default_level
    }

    /// The highest (most secret) level.
    pub fn highest_level(&self) -> LevelId {
        LevelId((self.levels.len() - 1) as u16)
    }

    /// The action when no rule matches (`[policy] default_action`).
    pub fn default_action(&self) -> Action {
        self.default_action
    }

    /// The decision rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The decision rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The classification rules, in file order.
    pub fn classify_rules(&self) -> &[ClassifyRule] {
        &self.classify_rules
    }

    /// True when `domain` (lower-case) is one of the organisation's own mail domains.
    pub fn is_internal_mail_domain(&self, domain: &str) -> bool {
        self.internal_mail_domains
            .iter()
            .any(|p| crate::destination::domain_matches(p, domain))
    }
}

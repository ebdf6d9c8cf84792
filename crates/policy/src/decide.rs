//! The decision function: level × channel × principal × destination → action.
//!
//! Precedence (documented in the crate root and docs/policy.md):
//! 1. Only rules whose levels, channels, principal and destination conditions all hold *match*.
//! 2. If any matching rule is an *exception*, the ordinary rules are set aside and the exceptions
//!    take their place; otherwise the ordinary rules count.
//! 3. *Final* rules always count: exceptions cannot relax them.
//! 4. Of the rules that count, the most restrictive action wins (`allow < audit < notify <
//!    justify < encrypt < quarantine < block`); among equally restrictive ones the rule with the
//!    smallest id decides (so the order rules are written in never matters).
//! 5. If no rule matches, the policy's `default_action` applies.
//!
//! A destination that is unknown (or of another kind than a rule's destination conditions) is
//! assumed to be the worst: ordinary and final rules with destination conditions match it,
//! exceptions never do.
//!
//! A mail to several recipients is decided once per recipient; the most restrictive outcome
//! wins and the matched rules of every recipient are reported.

use globset::Candidate;
use mamori_model::{Action, Channel, Decision};

use crate::destination::{
    Destination, Principal, UsbDevice, domain_matches, mail_domain, url_host,
};
use crate::policy::{DestinationCondition, GlobIndex, LevelId, MailTo, Policy, Rule, RuleKind};

/// What the decision function is asked about.
#[derive(Debug, Clone, Copy)]
pub struct DecideInput<'a> {
    /// The content's level (from [`Policy::classify`], usually cached per file).
    pub level: LevelId,
    /// The way the content is going.
    pub channel: Channel,
    /// Who is doing it.
    pub principal: &'a Principal,
    /// Where it is going.
    pub destination: &'a Destination,
}

/// A destination reduced to what rules compare, computed once per decision.
enum Target<'a> {
    Unknown,
    Usb(&'a UsbDevice),
    Mail {
        domain: Option<String>,
    },
    /// With the rules whose `urls` globs match, sorted.
    Url {
        hits: Vec<u32>,
        host: Option<String>,
    },
    /// The rules whose `printers` globs match, sorted.
    Printer(Vec<u32>),
    /// The rules whose `shares` globs match, sorted.
    Share(Vec<u32>),
}

/// The bare outcome of a decision, without text: what the agent needs on its hot path.
///
/// [`Policy::verdict`] computes it without allocating; [`Policy::decide`] gives the full
/// [`Decision`] (every matched rule id and the reason) for pop-ups and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// The content's level.
    pub level: LevelId,
    /// Index into [`Policy::rules`] of the deciding rule; `None` for the default action.
    pub rule: Option<usize>,
}

/// Best (action, id_rank, rule index) per kind: ordinary, exception, final.
type Best = [Option<(Action, u32, u32)>; 3];

fn better(candidate: (Action, u32, u32), current: Option<(Action, u32, u32)>) -> bool {
    current.is_none_or(|(action, rank, _)| {
        candidate.0 > action || (candidate.0 == action && candidate.1 < rank)
    })
}

impl Policy {
    /// Decides what may happen to content of `input.level` on `input.channel`, with every
    /// matched rule id (the deciding one first) and a reason in Japanese and English.
    ///
    /// Pure. Enforcement points cache the classification per file, not the decision
    /// (principals and destinations vary); on a hot path where only the action matters,
    /// [`Policy::verdict`] does not allocate.
    ///
    /// # Panics
    /// If `input.level` comes from another policy with more levels.
    pub fn decide(&self, input: &DecideInput<'_>) -> Decision {
        let mut matched = Vec::new();
        let verdict = self.run(input, Some(&mut matched));
        self.finish(verdict, matched, input.channel)
    }

    /// The action and deciding rule only, without allocating: the same answer as
    /// [`Policy::decide`] (`decide(x).action == verdict(x).action`).
    ///
    /// # Panics
    /// If `input.level` comes from another policy with more levels.
    pub fn verdict(&self, input: &DecideInput<'_>) -> Verdict {
        self.run(input, None)
    }

    fn run(&self, input: &DecideInput<'_>, mut matched: Option<&mut Vec<u32>>) -> Verdict {
        let (action, decider) = match input.destination {
            Destination::Mail(recipients) if recipients.len() > 1 => {
                let mut combined: Option<(Action, Option<u32>)> = None;
                for recipient in recipients {
                    let target = Target::Mail {
                        domain: mail_domain(recipient),
                    };
                    let next = self.evaluate(input, &target, matched.as_deref_mut());
                    if combined.is_none_or(|acc| self.stricter(next, acc)) {
                        combined = Some(next);
                    }
                }
                if let Some(m) = matched {
                    m.sort_unstable();
                    m.dedup();
                }
                combined.unwrap_or((self.default_action, None))
            }
            destination => self.evaluate(input, &self.target(destination), matched),
        };
        Verdict {
            action,
            level: input.level,
            rule: decider.map(|i| i as usize),
        }
    }

    /// True when outcome `a` is more restrictive than `b`, or as restrictive with a deciding
    /// rule of smaller id.
    fn stricter(&self, a: (Action, Option<u32>), b: (Action, Option<u32>)) -> bool {
        let rank = |d: Option<u32>| d.map_or(u32::MAX, |i| self.rules[i as usize].id_rank);
        a.0 > b.0 || (a.0 == b.0 && rank(a.1) < rank(b.1))
    }

    fn evaluate(
        &self,
        input: &DecideInput<'_>,
        target: &Target<'_>,
        mut matched: Option<&mut Vec<u32>>,
    ) -> (Action, Option<u32>) {
        let n_levels = self.levels.len();
        let bucket = &self.buckets[input.channel as usize * n_levels + input.level.rank()];
        // The unconditional rules' part is computed once, when the policy is loaded.
        let mut best: Best = bucket.unconditional_best;
        let mut conditional_hit = false;
        for &index in &bucket.conditional {
            let rule = &self.rules[index as usize];
            if !(rule.principal.matches(input.principal)
                && self.destination_matches(index, rule, &rule.destination, target))
            {
                continue;
            }
            if let Some(m) = matched.as_deref_mut() {
                m.push(index);
                conditional_hit = true;
            }
            let slot = &mut best[rule.kind as usize];
            let candidate = (rule.action, rule.id_rank, index);
            if better(candidate, *slot) {
                *slot = Some(candidate);
            }
        }
        if let Some(m) = matched {
            m.extend_from_slice(&bucket.unconditional);
            if conditional_hit && !bucket.unconditional.is_empty() {
                m.sort_unstable();
            }
        }
        let base = if best[RuleKind::Exception as usize].is_some() {
            best[RuleKind::Exception as usize]
        } else {
            best[RuleKind::Ordinary as usize]
        };
        let decider = match (best[RuleKind::Final as usize], base) {
            (Some(f), b) if better(f, b) => Some(f),
            (f, None) => f,
            (_, b) => b,
        };
        match decider {
            Some((action, _, index)) => (action, Some(index)),
            None => (self.default_action, None),
        }
    }

    fn destination_matches(
        &self,
        index: u32,
        rule: &Rule,
        condition: &DestinationCondition,
        target: &Target<'_>,
    ) -> bool {
        if condition.is_empty() {
            return true;
        }
        // A destination that is unknown, or of another kind than the rule's conditions, is
        // assumed to be the worst: restrictive rules match it, exceptions never do.
        let unknown = rule.kind != RuleKind::Exception;
        match target {
            Target::Unknown => unknown,
            Target::Usb(device) => {
                if condition.usb.is_empty() {
                    return unknown;
                }
                condition.usb.iter().any(|p| p.matches(device))
            }
            Target::Mail { domain } => {
                if condition.mail_to.is_none() && condition.mail_domains.is_empty() {
                    return unknown;
                }
                let domain = domain.as_deref().unwrap_or("");
                let internal = !domain.is_empty() && self.is_internal_mail_domain(domain);
                condition
                    .mail_to
                    .is_none_or(|m| (m == MailTo::Internal) == internal)
                    && (condition.mail_domains.is_empty()
                        || condition
                            .mail_domains
                            .iter()
                            .any(|p| domain_matches(p, domain)))
            }
            Target::Url { hits, host } => {
                if condition.url_domains.is_empty() && condition.urls.is_empty() {
                    return unknown;
                }
                let host = host.as_deref().unwrap_or("");
                (condition.url_domains.is_empty()
                    || condition
                        .url_domains
                        .iter()
                        .any(|p| domain_matches(p, host)))
                    && (condition.urls.is_empty() || hits.binary_search(&index).is_ok())
            }
            Target::Printer(hits) => {
                if condition.printers.is_empty() {
                    return unknown;
                }
                hits.binary_search(&index).is_ok()
            }
            Target::Share(hits) => {
                if condition.shares.is_empty() {
                    return unknown;
                }
                hits.binary_search(&index).is_ok()
            }
        }
    }

    fn finish(&self, verdict: Verdict, matched: Vec<u32>, channel: Channel) -> Decision {
        let level_def = &self.levels[verdict.level.rank()];
        match verdict.rule {
            Some(decider) => {
                let rule = &self.rules[decider];
                let mut rules = Vec::with_capacity(matched.len().max(1));
                rules.push(rule.id.clone());
                rules.extend(
                    matched
                        .iter()
                        .filter(|&&i| i as usize != decider)
                        .map(|&i| self.rules[i as usize].id.clone()),
                );
                Decision {
                    action: verdict.action,
                    level: level_def.id.clone(),
                    rules,
                    reason: self.reasons.render(
                        verdict.action,
                        level_def,
                        channel,
                        Some(&rule.id),
                        rule.message.as_ref(),
                    ),
                }
            }
            None => Decision {
                action: verdict.action,
                level: level_def.id.clone(),
                rules: Vec::new(),
                reason: self
                    .reasons
                    .render(verdict.action, level_def, channel, None, None),
            },
        }
    }
}

impl Policy {
    fn target<'a>(&self, destination: &'a Destination) -> Target<'a> {
        let globs = &self.destination_globs;
        match destination {
            Destination::Unknown => Target::Unknown,
            Destination::Usb(device) => Target::Usb(device),
            Destination::Mail(recipients) => match recipients.first() {
                Some(recipient) => Target::Mail {
                    domain: mail_domain(recipient),
                },
                None => Target::Unknown,
            },
            Destination::Url(url) => Target::Url {
                hits: globs[GlobIndex::URLS].rules_matching(&Candidate::new(url)),
                host: url_host(url),
            },
            Destination::Printer(name) => {
                Target::Printer(globs[GlobIndex::PRINTERS].rules_matching(&Candidate::new(name)))
            }
            Destination::Share(path) => {
                Target::Share(globs[GlobIndex::SHARES].rules_matching(&Candidate::new(path)))
            }
        }
    }
}

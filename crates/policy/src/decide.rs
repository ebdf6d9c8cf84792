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
use crate::policy::{DestinationCondition, LevelId, MailTo, Policy, Rule, RuleKind};

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
    Url {
        url: Candidate<'a>,
        host: Option<String>,
    },
    Printer(Candidate<'a>),
    Share(Candidate<'a>),
}

/// The outcome before it is turned into a [`Decision`].
struct Outcome {
    action: Action,
    decider: Option<u32>,
    matched: Vec<u32>,
}

impl Policy {
    /// Decides what may happen to content of `input.level` on `input.channel`.
    ///
    /// Pure and allocation-light: enforcement points call it on hot paths (cache the
    /// classification per file, not the decision: principals and destinations vary).
    ///
    /// # Panics
    /// If `input.level` comes from another policy with more levels.
    pub fn decide(&self, input: &DecideInput<'_>) -> Decision {
        let outcome = match input.destination {
            Destination::Mail(recipients) if recipients.len() > 1 => {
                let mut combined: Option<Outcome> = None;
                for recipient in recipients {
                    let target = Target::Mail {
                        domain: mail_domain(recipient),
                    };
                    let next = self.evaluate(input, &target);
                    combined = Some(match combined {
                        None => next,
                        Some(mut acc) => {
                            if self.stricter((next.action, next.decider), (acc.action, acc.decider))
                            {
                                acc.action = next.action;
                                acc.decider = next.decider;
                            }
                            acc.matched.extend(next.matched);
                            acc.matched.sort_unstable();
                            acc.matched.dedup();
                            acc
                        }
                    });
                }
                combined.unwrap_or(Outcome {
                    action: self.default_action,
                    decider: None,
                    matched: Vec::new(),
                })
            }
            destination => self.evaluate(input, &Target::of(destination)),
        };
        self.finish(outcome, input.level, input.channel)
    }

    /// True when outcome `a` is more restrictive than `b`, or as restrictive with a deciding
    /// rule of smaller id.
    fn stricter(&self, a: (Action, Option<u32>), b: (Action, Option<u32>)) -> bool {
        let rank = |d: Option<u32>| d.map_or(u32::MAX, |i| self.rules[i as usize].id_rank);
        a.0 > b.0 || (a.0 == b.0 && rank(a.1) < rank(b.1))
    }

    fn evaluate(&self, input: &DecideInput<'_>, target: &Target<'_>) -> Outcome {
        let n_levels = self.levels.len();
        let bucket = &self.buckets[input.channel as usize * n_levels + input.level.rank()];
        // Best (action, id_rank, index) per kind: ordinary, exception, final.
        let mut best: [Option<(Action, u32, u32)>; 3] = [None; 3];
        let mut matched = Vec::new();
        for &index in &bucket.rules {
            let rule = &self.rules[index as usize];
            if !rule.unconditional
                && !(rule.principal.matches(input.principal)
                    && self.destination_matches(rule, &rule.destination, target))
            {
                continue;
            }
            matched.push(index);
            let slot = &mut best[match rule.kind {
                RuleKind::Ordinary => 0,
                RuleKind::Exception => 1,
                RuleKind::Final => 2,
            }];
            let candidate = (rule.action, rule.id_rank, index);
            if slot.is_none_or(|(action, rank, _)| {
                candidate.0 > action || (candidate.0 == action && candidate.1 < rank)
            }) {
                *slot = Some(candidate);
            }
        }
        let base = if best[1].is_some() { best[1] } else { best[0] };
        let decider = match (best[2], base) {
            (Some(f), Some(b)) => {
                if f.0 > b.0 || (f.0 == b.0 && f.1 < b.1) {
                    Some(f)
                } else {
                    Some(b)
                }
            }
            (f, b) => f.or(b),
        };
        match decider {
            Some((action, _, index)) => Outcome {
                action,
                decider: Some(index),
                matched,
            },
            None => Outcome {
                action: self.default_action,
                decider: None,
                matched,
            },
        }
    }

    fn destination_matches(
        &self,
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
            Target::Url { url, host } => {
                if condition.url_domains.is_empty() && condition.urls.is_none() {
                    return unknown;
                }
                let host = host.as_deref().unwrap_or("");
                (condition.url_domains.is_empty()
                    || condition
                        .url_domains
                        .iter()
                        .any(|p| domain_matches(p, host)))
                    && condition
                        .urls
                        .as_ref()
                        .is_none_or(|g| g.is_match_candidate(url))
            }
            Target::Printer(name) => condition
                .printers
                .as_ref()
                .map_or(unknown, |g| g.is_match_candidate(name)),
            Target::Share(path) => condition
                .shares
                .as_ref()
                .map_or(unknown, |g| g.is_match_candidate(path)),
        }
    }

    fn finish(&self, outcome: Outcome, level: LevelId, channel: Channel) -> Decision {
        let level_def = &self.levels[level.rank()];
        match outcome.decider {
            Some(decider) => {
                let rule = &self.rules[decider as usize];
                let mut rules = Vec::with_capacity(outcome.matched.len());
                rules.push(rule.id.clone());
                rules.extend(
                    outcome
                        .matched
                        .iter()
                        .filter(|&&i| i != decider)
                        .map(|&i| self.rules[i as usize].id.clone()),
                );
                Decision {
                    action: outcome.action,
                    level: level_def.id.clone(),
                    rules,
                    reason: self.reasons.render(
                        outcome.action,
                        level_def,
                        channel,
                        Some(&rule.id),
                        rule.message.as_ref(),
                    ),
                }
            }
            None => Decision {
                action: outcome.action,
                level: level_def.id.clone(),
                rules: Vec::new(),
                reason: self
                    .reasons
                    .render(outcome.action, level_def, channel, None, None),
            },
        }
    }
}

impl<'a> Target<'a> {
    fn of(destination: &'a Destination) -> Target<'a> {
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
                url: Candidate::new(url),
                host: url_host(url),
            },
            // Printer names compare case-insensitively (CUPS queue names do).
            Destination::Printer(name) => Target::Printer(Candidate::new(name)),
            Destination::Share(path) => Target::Share(Candidate::new(path)),
        }
    }
}

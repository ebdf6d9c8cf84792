//! What to answer to one open, given the facts gathered about it. Pure: the policy, the level,
//! the taint and the writer check come in; a verdict goes out.
//!
//! Two sides:
//! * **destination** (the file is on a controlled mount): a process tainted with a level may not
//!   open files there when the policy's answer for that level on that channel
//!   (`removable_media`, `network_share`) is restrictive;
//! * **source** (the file is on a watched tree and classified): the open is refused when the
//!   process already holds a file open for writing on a controlled mount and the policy forbids
//!   that channel for the file's level (`cat secret > /media/usb/x`: the shell opened the target
//!   first); otherwise it is allowed and the process is tainted. Access control (`file_access`
//!   rules with principals) applies on this side too.
//!
//! An action refuses when it is `justify` (no justification given), `encrypt` (the agent cannot
//! encrypt a copy in flight), `quarantine` or `block`.

use mamori_model::{Action, Channel};
use mamori_policy::{DecideInput, Destination, LevelId, Policy, Principal, Verdict};

/// Whether an action lets the open through.
pub fn refuses(action: Action) -> bool {
    action >= Action::Justify
}

/// Why an open was refused or recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ground {
    /// A tainted process opened a file on a controlled mount.
    TaintedExport {
        /// The taint's level.
        level: LevelId,
        /// `removable_media` or `network_share`.
        channel: Channel,
    },
    /// A process writing to a controlled mount opened classified content.
    WriterOpensClassified {
        /// The file's level.
        level: LevelId,
        /// The writer's channel.
        channel: Channel,
    },
    /// Access control: the file's level may not be opened by this principal.
    Access {
        /// The file's level.
        level: LevelId,
    },
    /// Opening classified content (allowed; the process is now tainted).
    Classified {
        /// The file's level.
        level: LevelId,
    },
    /// Nothing of note.
    Plain,
}

/// The answer to one open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Let the open through.
    pub allow: bool,
    /// The policy's verdict behind the answer (None: no policy question was asked).
    pub verdict: Option<Verdict>,
    /// The channel the verdict is for.
    pub channel: Channel,
    /// Why.
    pub ground: Ground,
    /// Taint the process with this level (source side, allowed).
    pub taint: Option<LevelId>,
    /// The open is worth a journal record (the policy's action is not a bare `allow`, or the
    /// open was refused).
    pub record: bool,
}

fn ask(
    policy: &Policy,
    level: LevelId,
    channel: Channel,
    principal: &Principal,
    destination: &Destination,
) -> Verdict {
    policy.verdict(&DecideInput {
        level,
        channel,
        principal,
        destination,
    })
}

/// An open of a file on a controlled mount by a process carrying `taint` (its level).
pub fn destination(
    policy: &Policy,
    taint: Option<LevelId>,
    channel: Channel,
    principal: &Principal,
    dest: &Destination,
) -> Answer {
    let Some(level) = taint else {
        return Answer {
            allow: true,
            verdict: None,
            channel,
            ground: Ground::Plain,
            taint: None,
            record: false,
        };
    };
    let verdict = ask(policy, level, channel, principal, dest);
    Answer {
        allow: !refuses(verdict.action),
        verdict: Some(verdict),
        channel,
        ground: Ground::TaintedExport { level, channel },
        taint: None,
        record: verdict.action != Action::Allow,
    }
}

/// An open of a file of `level` on a watched tree. `writer` is the channel and destination of a
/// file the process holds open for writing on a controlled mount, if any (looked up only for
/// classified content).
pub fn source(
    policy: &Policy,
    level: LevelId,
    principal: &Principal,
    writer: Option<(Channel, &Destination)>,
) -> Answer {
    let access = ask(
        policy,
        level,
        Channel::FileAccess,
        principal,
        &Destination::Unknown,
    );
    if refuses(access.action) {
        return Answer {
            allow: false,
            verdict: Some(access),
            channel: Channel::FileAccess,
            ground: Ground::Access { level },
            taint: None,
            record: true,
        };
    }
    let classified = level > policy.default_level();
    if classified && let Some((channel, dest)) = writer {
        let v = ask(policy, level, channel, principal, dest);
        if refuses(v.action) {
            return Answer {
                allow: false,
                verdict: Some(v),
                channel,
                ground: Ground::WriterOpensClassified { level, channel },
                taint: None,
                record: true,
            };
        }
    }
    Answer {
        allow: true,
        verdict: Some(access),
        channel: Channel::FileAccess,
        ground: if classified {
            Ground::Classified { level }
        } else {
            Ground::Plain
        },
        taint: classified.then_some(level),
        record: access.action != Action::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::default_policy()
    }

    fn l(p: &Policy, id: &str) -> LevelId {
        p.level_id(id).unwrap()
    }

    #[test]
    fn untainted_process_writes_anywhere() {
        let p = policy();
        let a = destination(
            &p,
            None,
            Channel::RemovableMedia,
            &Principal::new("u"),
            &Destination::Unknown,
        );
        assert!(a.allow);
        assert!(!a.record);
        assert_eq!(a.ground, Ground::Plain);
    }

    #[test]
    fn tainted_export_follows_the_policy_per_level_and_channel() {
        let p = policy();
        let u = Principal::new("u");
        let share = Destination::Share("/mnt/share/x".into());
        // (level, channel, allowed?) under the default policy:
        let cases = [
            ("top_secret", Channel::RemovableMedia, false), // final block
            ("top_secret", Channel::NetworkShare, false),
            ("secret", Channel::RemovableMedia, false), // block
            ("secret", Channel::NetworkShare, false),   // block
            ("internal", Channel::RemovableMedia, false), // encrypt: cannot, refuse
            ("internal", Channel::NetworkShare, true),  // no rule: default audit
            ("public", Channel::RemovableMedia, true),
        ];
        for (level, channel, allowed) in cases {
            let dest = if channel == Channel::NetworkShare {
                &share
            } else {
                &Destination::Unknown
            };
            let a = destination(&p, Some(l(&p, level)), channel, &u, dest);
            assert_eq!(a.allow, allowed, "{level} {channel:?}");
            assert!(a.record, "a tainted export is always recorded ({level})");
            assert_eq!(
                a.ground,
                Ground::TaintedExport {
                    level: l(&p, level),
                    channel
                }
            );
        }
    }

    #[test]
    fn approved_usb_device_relaxes_secret_to_encrypt_which_still_refuses() {
        let p = policy();
        let dev = Destination::Usb(mamori_policy::UsbDevice {
            vendor: 0x0951,
            product: 0x1666,
            serial: Some("X".into()),
        });
        let a = destination(
            &p,
            Some(l(&p, "secret")),
            Channel::RemovableMedia,
            &Principal::new("u"),
            &dev,
        );
        assert_eq!(a.verdict.unwrap().action, Action::Encrypt);
        assert!(!a.allow);
    }

    #[test]
    fn source_side_taints_classified_and_refuses_writers() {
        let p = policy();
        let u = Principal::new("u");
        let public = source(&p, l(&p, "public"), &u, None);
        assert!(public.allow);
        assert_eq!(public.taint, None);
        assert!(!public.record, "public-allow: no record");
        let internal = source(&p, l(&p, "internal"), &u, None);
        assert!(internal.allow);
        assert_eq!(internal.taint, Some(l(&p, "internal")));
        assert!(internal.record, "default audit for internal file_access");
        // Holding a write fd on a USB stick: refused.
        let w = source(
            &p,
            l(&p, "secret"),
            &u,
            Some((Channel::RemovableMedia, &Destination::Unknown)),
        );
        assert!(!w.allow);
        assert_eq!(
            w.ground,
            Ground::WriterOpensClassified {
                level: l(&p, "secret"),
                channel: Channel::RemovableMedia
            }
        );
        assert_eq!(w.taint, None);
        // Internal onto a network share is allowed by the default policy: taint, allow.
        let s = source(
            &p,
            l(&p, "internal"),
            &u,
            Some((Channel::NetworkShare, &Destination::Share("/s".into()))),
        );
        assert!(s.allow);
        // A public file opened by a writer: nothing to refuse.
        let pw = source(
            &p,
            l(&p, "public"),
            &u,
            Some((Channel::RemovableMedia, &Destination::Unknown)),
        );
        assert!(pw.allow);
    }

    #[test]
    fn file_access_rules_refuse_other_users() {
        let text = r#"
[policy]
name = "t"
version = 1
default_action = "audit"
[[level]]
id = "secret"
ja = "秘"
en = "Secret"
[[level]]
id = "public"
ja = "公開"
en = "Public"
[classification]
default_level = "public"
[[rule]]
id = "secret-readers"
levels = ["secret"]
channels = ["file_access"]
action = "block"
[[rule]]
id = "secret-readers-ok"
levels = ["secret"]
channels = ["file_access"]
users = ["alice"]
action = "audit"
exception = true
"#;
        let p = Policy::from_toml(text, "t.toml").unwrap();
        let secret = p.level_id("secret").unwrap();
        let bob = source(&p, secret, &Principal::new("bob"), None);
        assert!(!bob.allow);
        assert_eq!(bob.ground, Ground::Access { level: secret });
        let alice = source(&p, secret, &Principal::new("alice"), None);
        assert!(alice.allow);
        assert_eq!(alice.taint, Some(secret));
    }

    #[test]
    fn refuses_is_monotone() {
        let mut seen_refuse = false;
        for a in Action::ALL {
            if refuses(a) {
                seen_refuse = true;
            } else {
                assert!(!seen_refuse, "{a:?} allowed after a refusing action");
            }
        }
        assert!(refuses(Action::Justify) && !refuses(Action::Notify));
    }
}

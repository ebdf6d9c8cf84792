//! The sentences a person reads in a pop-up: what was decided, for which level and channel, by
//! which rule.

use mamori_model::{Action, Bilingual, Channel};

use crate::policy::Level;

/// The channel as a Japanese verb phrase (dictionary form) and an English past participle.
fn channel_phrases(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::FileAccess => ("開く", "opened"),
        Channel::LocalCopy => ("コピーする", "copied"),
        Channel::RemovableMedia => (
            "USBメモリなどの外部媒体にコピーする",
            "copied to removable media (USB)",
        ),
        Channel::NetworkShare => ("共有フォルダにコピーする", "copied to a network share"),
        Channel::Print => ("印刷する", "printed"),
        Channel::WebUpload => ("Webにアップロードする", "uploaded to the web"),
        Channel::Mail => ("メールで送信する", "sent by mail"),
    }
}

/// The reason for a decision. `rule` is the deciding rule's id (`None`: the default action);
/// `custom` the rule's own message, where `{level}` stands for the level's name.
pub(crate) fn reason(
    action: Action,
    level: &Level,
    channel: Channel,
    rule: Option<&str>,
    custom: Option<&Bilingual>,
) -> Bilingual {
    let (l_ja, l_en) = (level.ja.as_str(), level.en.as_str());
    let (v_ja, v_en) = channel_phrases(channel);
    let (mut ja, mut en) = match custom {
        Some(message) => (
            message.ja.replace("{level}", l_ja),
            message.en.replace("{level}", l_en),
        ),
        None => match action {
            Action::Allow => (
                format!("{l_ja}のファイルを{v_ja}ことは許可されています"),
                format!("{l_en} files may be {v_en}"),
            ),
            Action::Audit => (
                format!("{l_ja}のファイルを{v_ja}操作は記録されます"),
                format!("{l_en} files may be {v_en}; this is recorded"),
            ),
            Action::Notify => (
                format!(
                    "{l_ja}のファイルを{v_ja}操作は記録され、管理者に報告されます。取り扱いに注意してください"
                ),
                format!(
                    "{l_en} files may be {v_en}, but this is recorded and reported: handle with care"
                ),
            ),
            Action::Justify => (
                format!("{l_ja}のファイルを{v_ja}には業務上の理由の入力が必要です"),
                format!("{l_en} files may be {v_en} only with a business reason"),
            ),
            Action::Encrypt => (
                format!("{l_ja}のファイルは暗号化した場合に限り{v_ja}ことができます"),
                format!("{l_en} files may be {v_en} only once encrypted"),
            ),
            Action::Quarantine => (
                format!("{l_ja}のファイルを{v_ja}操作は保留され、管理者の確認を待ちます"),
                format!("{l_en} files {v_en} are held for review by an administrator"),
            ),
            Action::Block => (
                format!("{l_ja}のファイルは{v_ja}ことができません"),
                format!("{l_en} files may not be {v_en}"),
            ),
        },
    };
    match rule {
        Some(rule) => {
            for text in [&mut ja, &mut en] {
                text.push_str(" (rule ");
                text.push_str(rule);
                text.push(')');
            }
        }
        None => {
            ja.push_str(" (既定の動作)");
            en.push_str(" (default)");
        }
    }
    Bilingual { ja, en }
}

/// The sentences of [`reason`] for every action and channel, cut around the level's name, so a
/// decision on a hot path only concatenates (no formatting).
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    /// `[action][channel]`: Japanese before and after the level, English before and after.
    pieces: Vec<[String; 4]>,
}

impl Templates {
    pub(crate) fn new() -> Templates {
        const MARK: &str = "\u{0}";
        let marker = Level {
            id: String::new(),
            ja: MARK.into(),
            en: MARK.into(),
        };
        let mut pieces = Vec::with_capacity(Action::ALL.len() * Channel::ALL.len());
        for action in Action::ALL {
            for channel in Channel::ALL {
                let text = reason(action, &marker, channel, Some(""), None);
                let cut = |t: &str| -> (String, String) {
                    let t = t.strip_suffix(" (rule )").unwrap_or(t);
                    let (a, b) = t.split_once(MARK).unwrap_or((t, ""));
                    (a.to_owned(), b.to_owned())
                };
                let (ja_a, ja_b) = cut(&text.ja);
                let (en_a, en_b) = cut(&text.en);
                pieces.push([ja_a, ja_b, en_a, en_b]);
            }
        }
        Templates { pieces }
    }

    /// Same text as [`reason`].
    pub(crate) fn render(
        &self,
        action: Action,
        level: &Level,
        channel: Channel,
        rule: Option<&str>,
        custom: Option<&Bilingual>,
    ) -> Bilingual {
        if custom.is_some() {
            return reason(action, level, channel, rule, custom);
        }
        let [ja_a, ja_b, en_a, en_b] =
            &self.pieces[action as usize * Channel::ALL.len() + channel as usize];
        let join = |a: &str, name: &str, b: &str, default: &str| {
            let suffix = rule.map_or(default.len(), |r| r.len() + 8);
            let mut out = String::with_capacity(a.len() + name.len() + b.len() + suffix);
            out.push_str(a);
            out.push_str(name);
            out.push_str(b);
            match rule {
                Some(rule) => {
                    out.push_str(" (rule ");
                    out.push_str(rule);
                    out.push(')');
                }
                None => out.push_str(default),
            }
            out
        };
        Bilingual {
            ja: join(ja_a, &level.ja, ja_b, " (既定の動作)"),
            en: join(en_a, &level.en, en_b, " (default)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal() -> Level {
        Level {
            id: "internal".into(),
            ja: "社外秘".into(),
            en: "Internal".into(),
        }
    }

    #[test]
    fn block_on_usb_reads_like_a_popup() {
        let r = reason(
            Action::Block,
            &internal(),
            Channel::RemovableMedia,
            Some("usb-internal"),
            None,
        );
        assert_eq!(
            r.ja,
            "社外秘のファイルはUSBメモリなどの外部媒体にコピーすることができません (rule usb-internal)"
        );
        assert_eq!(
            r.en,
            "Internal files may not be copied to removable media (USB) (rule usb-internal)"
        );
    }

    #[test]
    fn every_action_and_channel_has_distinct_text() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            for channel in Channel::ALL {
                let r = reason(action, &internal(), channel, None, None);
                assert!(
                    r.ja.contains("社外秘") && r.en.contains("Internal"),
                    "{r:?}"
                );
                assert!(r.ja.ends_with("(既定の動作)") && r.en.ends_with("(default)"));
                assert!(seen.insert(r.ja.clone()), "duplicate {}", r.ja);
                assert!(seen.insert(r.en.clone()), "duplicate {}", r.en);
            }
        }
    }

    #[test]
    fn templates_render_the_same_text() {
        let templates = Templates::new();
        for action in Action::ALL {
            for channel in Channel::ALL {
                for rule in [None, Some("r-1")] {
                    assert_eq!(
                        templates.render(action, &internal(), channel, rule, None),
                        reason(action, &internal(), channel, rule, None)
                    );
                }
            }
        }
    }

    #[test]
    fn custom_message_substitutes_level() {
        let custom = Bilingual::new("{level}は持ち出し禁止です", "{level} stays here");
        let r = reason(
            Action::Block,
            &internal(),
            Channel::Mail,
            Some("r1"),
            Some(&custom),
        );
        assert_eq!(r.ja, "社外秘は持ち出し禁止です (rule r1)");
        assert_eq!(r.en, "Internal stays here (rule r1)");
    }
}

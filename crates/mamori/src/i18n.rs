//! The user's language, and the few sentences the binary prints itself.
//!
//! Mamori speaks Japanese and English. The language comes from `--lang`, else from the locale
//! (`LC_ALL`, `LC_MESSAGES`, `LANG`, in that order, as gettext reads them): any locale starting
//! with `ja` means Japanese, anything else English.

/// A language Mamori speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// 日本語
    Ja,
    /// English
    En,
}

impl Lang {
    /// The language from an explicit choice, else from the locale environment variables.
    pub fn resolve(explicit: Option<Lang>) -> Lang {
        explicit.unwrap_or_else(|| Lang::from_locale_vars(|name| std::env::var(name).ok()))
    }

    /// The language from locale variables looked up through `get` (testable without touching
    /// the process environment).
    pub fn from_locale_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Some(value) = get(name).filter(|v| !v.is_empty()) {
                return if value.starts_with("ja") {
                    Lang::Ja
                } else {
                    Lang::En
                };
            }
        }
        Lang::En
    }

    /// The language tag used by [`mamori_model::Bilingual::for_lang`].
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Picks the sentence in this language.
    pub fn pick<'a>(self, ja: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn locale_precedence_follows_gettext() {
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "ja_JP.UTF-8")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "ja_JP.UTF-8"), ("LC_ALL", "C")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LANG", "C"), ("LC_MESSAGES", "ja_JP")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LC_ALL", ""), ("LANG", "ja")])),
            Lang::Ja
        );
        assert_eq!(Lang::from_locale_vars(env(&[])), Lang::En);
    }
}

//! The pages' texts in Dutch and English ([`t`]), kept as data in `texts.tsv`: one line a
//! key, its Dutch text and its English text, separated by tabs.

use super::Lang;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The texts by key: Dutch and English.
static TEXTS: LazyLock<HashMap<&str, (&str, &str)>> = LazyLock::new(|| {
    // A line that is not three fields is a bug here (the pages' tests read every line).
    text_lines()
        .map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            [key, nl, en] => (key, (nl, en)),
            _ => panic!("texts.tsv: a line that is not a key, Dutch and English: {l}"),
        })
        .collect()
});

/// The lines of `texts.tsv` that hold a text (comment lines start with `#`).
pub(super) fn text_lines() -> impl Iterator<Item = &'static str> {
    include_str!("texts.tsv")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The text of `key` in `lang` (`?` for an unknown key).
pub(super) fn t(lang: Lang, key: &str) -> &'static str {
    let (nl, en) = TEXTS.get(key).copied().unwrap_or(("?", "?"));
    match lang {
        Lang::Nl => nl,
        Lang::En => en,
    }
}

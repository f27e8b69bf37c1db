//! Text from outside (stored ids, user agents, raw items) made safe to show on a terminal.
//!
//! A stored value is written by whoever reached the backend. Printed raw, `\e[2J` clears the
//! operator's screen, `\e]0;…\a` retitles the terminal, a newline fakes a table row and a
//! right-to-left override reverses what follows. Escaped, the operator sees what is stored.

use std::borrow::Cow;

/// Longer values are cut (with their length said): one 64 KB id must not flood a table.
pub const MAX_SHOWN_CHARS: usize = 256;

fn needs_escape(c: char) -> bool {
    c.is_control()
        // Bidirectional overrides and isolates: they reorder the text around them.
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `value` with control and bidi characters escaped (`\n`, `\u{1b}`) and cut after
/// [`MAX_SHOWN_CHARS`] characters.
pub fn printable(value: &str) -> Cow<'_, str> {
    let long = value.len() > MAX_SHOWN_CHARS && value.chars().nth(MAX_SHOWN_CHARS).is_some();
    if !long && !value.chars().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    let mut shown = String::with_capacity(value.len().min(MAX_SHOWN_CHARS * 2));
    for c in value.chars().take(MAX_SHOWN_CHARS) {
        if needs_escape(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if long {
        shown.push_str(&format!("… ({} chars)", value.chars().count()));
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_escaped() {
        assert_eq!(printable("user-1"), "user-1");
        assert_eq!(
            printable("a\u{1b}[2J\u{1b}]0;PWNED\u{7}"),
            "a\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}"
        );
        assert_eq!(printable("fake\nrow"), "fake\\nrow");
        assert_eq!(printable("evil\u{202E}txt"), "evil\\u{202e}txt");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("ünïcödé ✓"), "ünïcödé ✓");
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "x".repeat(65_000);
        let shown = printable(&long);
        assert!(shown.starts_with(&"x".repeat(MAX_SHOWN_CHARS)));
        assert!(
            shown.ends_with("… (65000 chars)"),
            "{}",
            &shown[MAX_SHOWN_CHARS..]
        );
        assert_eq!(
            printable(&"y".repeat(MAX_SHOWN_CHARS)),
            "y".repeat(MAX_SHOWN_CHARS)
        );
    }
}

//! Making attacker-controlled text safe for a terminal.
//!
//! userAgent, ARNs, error messages and request parameters are written by whoever holds the
//! key; printed raw, escape sequences in them could rewrite the screen or hide lines.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters a terminal may interpret: C0 and C1 controls, DEL, and the Unicode
/// bidirectional overrides that can make text read differently from what it is.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character replaced by a visible escape such as `\u{1b}`.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(safe, "\\u{{{:x}}}", c as u32);
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_overrides() {
        assert_eq!(for_terminal("aws-cli/2.0"), "aws-cli/2.0");
        assert_eq!(
            for_terminal("x\u{1b}[2J\r\n\u{202e}y"),
            "x\\u{1b}[2J\\u{d}\\u{a}\\u{202e}y"
        );
        assert_eq!(for_terminal("\u{9b}31m"), "\\u{9b}31m");
    }
}

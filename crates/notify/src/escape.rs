//! Making attacker-controlled text inert in each output format.
//!
//! userAgent, ARNs, error codes and request parameters are written by whoever holds the key.
//! Printed raw, escape sequences could rewrite a terminal, markup could run in a mail reader,
//! `<!channel>` could page a whole Slack workspace and a newline could add a mail header.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters a terminal or reader may interpret rather than show: C0 and C1
/// controls, DEL, the Unicode bidirectional controls that make text read differently from
/// what it is, invisible format characters that hide text from a reader's eye and a grep
/// (zero-width spaces and joiners, the soft hyphen, the byte-order mark, tag characters,
/// interlinear annotation), and the Unicode line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{061c}'
                | '\u{00ad}'
                | '\u{180e}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
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

/// [`for_terminal`] line by line: the line breaks of a multi-line message (a TOML parser's
/// pointer at the bad line, a list of causes) stay line breaks instead of showing as
/// `\u{a}`. Carriage returns are still made visible, so no line can overwrite another.
pub fn for_terminal_lines(text: &str) -> String {
    text.split('\n')
        .map(for_terminal)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` for a spreadsheet cell (CSV): controls made visible as for a terminal, and a
/// leading `=`, `+`, `-` or `@`, with which a spreadsheet would read the cell as a formula
/// (`=HYPERLINK(…)` in a userAgent), preceded by `'`, which shows the text as text.
pub fn for_spreadsheet(text: &str) -> Cow<'_, str> {
    let safe = for_terminal(text);
    if safe.starts_with(['=', '+', '-', '@']) {
        Cow::Owned(format!("'{safe}"))
    } else {
        safe
    }
}

/// `text` for HTML element content or a quoted attribute: controls made visible, then the
/// five markup characters escaped.
pub fn html(text: &str) -> String {
    let visible = for_terminal(text);
    let mut out = String::with_capacity(visible.len() + 16);
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a Slack mrkdwn code span: controls made visible, `&`, `<` and `>` escaped as
/// Slack requires (so no link, mention or `<!channel>` survives), and backticks swapped for a
/// look-alike so the span cannot be closed early and formatting cannot start.
pub fn slack_code(text: &str) -> String {
    let visible = for_terminal(text);
    let mut out = String::with_capacity(visible.len() + 8);
    out.push('`');
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\u{2cb}'),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

/// `text` as a [`slack_code`] span of at most `max` characters. Escaping can make text up to
/// nine times longer (`\u{2066}` for one character), so the value is cut before escaping, as
/// far as needed for the span to fit: Slack refuses a whole message with an oversized field.
pub fn slack_code_within(text: &str, max: usize) -> String {
    within(text, max, slack_code)
}

/// `escape(text)` of at most `max` characters. Escaping can make text up to nine times longer
/// (`\u{2066}` for one character), so the text is cut before escaping, as far as needed: no
/// escape or entity is cut in half, and services refuse a whole message with an oversized
/// field.
pub fn within(text: &str, max: usize, escape: impl Fn(&str) -> String) -> String {
    let mut keep = text.chars().count();
    loop {
        let escaped = escape(&truncate(text, keep));
        let length = escaped.chars().count();
        if length <= max || keep <= 1 {
            return escaped;
        }
        keep = (keep * max / length).min(keep - 1);
    }
}

/// `text` for Markdown that follows CommonMark's escapes (Microsoft Teams' Adaptive Cards):
/// controls made visible, then every ASCII punctuation character backslash-escaped, so no
/// emphasis, link, list, `<at>` mention or `{{DATE()}}` function can form.
pub fn markdown(text: &str) -> String {
    let visible = for_terminal(text);
    let mut out = String::with_capacity(visible.len() + 16);
    for c in visible.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a Markdown code span (Discord): controls made visible and backticks swapped for
/// a look-alike, so the span cannot close early. Nothing in a code span is formatted,
/// linked or mentioned.
pub fn markdown_code(text: &str) -> String {
    let visible = for_terminal(text);
    format!("`{}`", visible.replace('`', "\u{2cb}"))
}

/// `text` for one line of a mail header (the subject): every unsafe character, CR and LF
/// included, becomes a space, so no header can be added, and it is cut to `max` characters.
pub fn header_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if is_unsafe(c) { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.pop();
        out.push('…');
    }
    out
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
            cut.push('…');
            Cow::Owned(cut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terminal_lines_keep_line_breaks_and_escape_the_rest() {
        assert_eq!(
            for_terminal_lines("line 3, column 7\n  |\n3 | x = \u{1b}[31m\r"),
            "line 3, column 7\n  |\n3 | x = \\u{1b}[31m\\u{d}"
        );
    }

    #[test]
    fn terminal_escapes_controls_and_bidi_overrides() {
        assert_eq!(for_terminal("aws-cli/2.0"), "aws-cli/2.0");
        assert_eq!(
            for_terminal("x\u{1b}[2J\r\n\u{202e}y"),
            "x\\u{1b}[2J\\u{d}\\u{a}\\u{202e}y"
        );
        assert_eq!(for_terminal("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn spreadsheet_cells_never_start_a_formula() {
        assert_eq!(for_spreadsheet("aws-cli/2.0"), "aws-cli/2.0");
        assert_eq!(
            for_spreadsheet("=HYPERLINK(\"https://evil.example\",\"x\")"),
            "'=HYPERLINK(\"https://evil.example\",\"x\")"
        );
        for lead in ["+1", "-1+2", "@SUM(A1)"] {
            assert_eq!(for_spreadsheet(lead), format!("'{lead}"));
        }
        assert_eq!(
            for_spreadsheet("\u{9}=1"),
            "\\u{9}=1",
            "a control is shown, not kept"
        );
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<script>alert('x')</script>&\"\r\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\u{d}\\u{a}"
        );
    }

    #[test]
    fn slack_code_cannot_mention_link_or_break_out() {
        assert_eq!(
            slack_code("<!channel> `*bold*` <https://evil|x>"),
            "`&lt;!channel&gt; \u{2cb}*bold*\u{2cb} &lt;https://evil|x&gt;`"
        );
    }

    #[test]
    fn invisible_characters_are_made_visible() {
        assert_eq!(for_terminal("sql\u{200b}map"), "sql\\u{200b}map");
        assert_eq!(for_terminal("a\u{2028}b\u{feff}"), "a\\u{2028}b\\u{feff}");
        assert_eq!(for_terminal("\u{e0041}"), "\\u{e0041}");
    }

    #[test]
    fn slack_spans_fit_however_much_escaping_grows_them() {
        let hostile = "\u{2066}".repeat(300);
        let code = slack_code_within(&hostile, 1_900);
        assert!(code.chars().count() <= 1_900, "{}", code.chars().count());
        assert!(
            code.starts_with("`\\u{2066}") && code.ends_with("…`"),
            "{code}"
        );
        assert_eq!(slack_code_within("plain", 1_900), "`plain`");
        let amps = "&".repeat(5_000);
        assert!(slack_code_within(&amps, 2_900).chars().count() <= 2_900);
    }

    #[test]
    fn header_lines_hold_no_line_breaks() {
        assert_eq!(header_line("a\r\nBcc: x@evil", 100), "a  Bcc: x@evil");
        assert_eq!(header_line("abcdef", 4), "abc…");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    proptest! {
        #[test]
        fn no_escaped_text_holds_active_characters(text in "\\PC*|[\\x00-\\x7f\u{202e}\u{2066}]*") {
            prop_assert!(!for_terminal(&text).chars().any(is_unsafe));
            let html = html(&text);
            prop_assert!(!html.contains('<') && !html.contains('>') && !html.contains('"'));
            let code = slack_code(&text);
            prop_assert!(!code.contains('<') && !code.contains('>'));
            prop_assert_eq!(code.matches('`').count(), 2);
            let header = header_line(&text, 200);
            prop_assert!(!header.contains('\r') && !header.contains('\n'));
        }
    }
}

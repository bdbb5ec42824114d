//! Writing XML we generate (AuthnRequests, SP metadata): every value that comes from
//! configuration or from a request goes through [`escape`], never straight into a
//! format string.

/// Escapes `s` for use in XML text or in a double- or single-quoted attribute value.
/// Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR,
/// U+FFFE/U+FFFF) become U+FFFD, so the output is always well-formed; CR, LF and tab are
/// written as character references so attribute-value normalization keeps them.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            escape(r#"a&b<c>"d"'e'"#),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"
        );
        assert_eq!(escape("x\u{0}y\u{1b}z"), "x\u{FFFD}y\u{FFFD}z");
        assert_eq!(escape("l1\nl2"), "l1&#10;l2");
        // The result always parses, as text and as an attribute value.
        let nasty = "\"/><evil a='1'>&amp;\u{0}\u{FFFF}";
        let doc = format!("<r a=\"{0}\" b='{0}'>{0}</r>", escape(nasty));
        let parsed = roxmltree::Document::parse(&doc).expect("well-formed");
        let root = parsed.root_element();
        assert_eq!(root.children().count(), 1, "no element was injected");
        assert_eq!(
            root.attribute("a"),
            Some("\"/><evil a='1'>&amp;\u{FFFD}\u{FFFD}")
        );
    }
}

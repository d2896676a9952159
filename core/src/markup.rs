//! Escaping text for markup: HTML (the server console's pages) and XML (the SVG pictures,
//! such as the sociogram).

/// Escape text for HTML content and attribute values: `&`, `<`, `>`, `"` and `'` as
/// entities.
pub fn html_escape(s: &str) -> String {
    escape(s, |_| true)
}

/// Escape text for XML (SVG) content and attribute values: as [`html_escape`], and control
/// characters, which XML 1.0 does not allow, left out.
pub fn xml_escape(s: &str) -> String {
    escape(s, |c| !c.is_control())
}

/// The five characters as entities; any other character kept if `keep` says so.
fn escape(s: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if keep(c) => out.push(c),
            _ => {}
        }
    }
    out
}

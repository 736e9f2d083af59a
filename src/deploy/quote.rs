//! Quoting for the deploy files' formats (TOML, YAML, systemd) and the names platforms accept.
//! Strings are quoted here, so a value like `yes` or `0755` stays a string in YAML 1.1 (Cloud
//! Run's parser) and TOML.

use anyhow::{bail, Result};

/// A TOML basic string on one line: `"` and `\` escaped, and every control character as an
/// escape, so a value can never open a multi-line string, end a comment or start a key.
pub fn toml_str(s: &str) -> String {
    quoted(s, |c| {
        c.is_control().then(|| format!("\\u{:04X}", c as u32))
    })
}

/// `s` in double quotes with `"`, `\`, line feed, tab and carriage return escaped, and every
/// other character `escape` returns something for replaced by it.
fn quoted(s: &str, escape: impl Fn(char) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => match escape(c) {
                Some(e) => out.push_str(&e),
                None => out.push(c),
            },
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
pub fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_string()
    } else {
        toml_str(s)
    }
}

/// A YAML double-quoted scalar: always quoted, so YAML 1.1 readers (Cloud Run's Go parser,
/// PyYAML) never turn `yes`, `0755`, `1.10`, `2024-01-01` or `null` into a bool, number, date or
/// null. `"` and `\` are escaped, and so is every character YAML does not allow printed raw.
pub fn yaml_quote(s: &str) -> String {
    quoted(s, |c| match c {
        c if yaml_printable(c) => None,
        c if (c as u32) <= 0xFFFF => Some(format!("\\u{:04X}", c as u32)),
        c => Some(format!("\\U{:08X}", c as u32)),
    })
}

/// YAML's printable set (c-printable), minus the byte-order mark.
fn yaml_printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

/// A systemd `Environment=` assignment, quoted: `"`, `\` escaped, `%` doubled (specifiers).
pub fn systemd_quote(assignment: &str) -> String {
    let mut out = String::from("\"");
    for ch in assignment.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A DNS label from a name: lowercase ASCII letters, digits and single hyphens, starting with a
/// letter (Fly, Cloud Run and systemd unit names all accept it).
pub fn dns_label(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "app-");
    }
    out.truncate(63);
    out.trim_end_matches('-').to_string()
}

/// Refuses a configured name that is not a DNS label of at most `max` characters.
pub fn check_label(key: &str, value: &str, max: usize) -> Result<()> {
    if dns_label(value) != value || value.len() > max {
        bail!("imggen.toml {key} = \"{value}\" is not a valid name; use at most {max} lowercase letters, digits and hyphens, starting with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quote_escapes() {
        assert_eq!(yaml_quote("yes"), "\"yes\"");
        assert_eq!(yaml_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(yaml_quote("\u{7f}\u{1}"), "\"\\u007F\\u0001\"");
        assert_eq!(yaml_quote("é"), "\"é\"");
    }

    #[test]
    fn toml_strings_stay_on_one_line() {
        assert_eq!(toml_str("migrate"), r#""migrate""#);
        assert_eq!(toml_str("a\nb"), r#""a\nb""#);
        assert_eq!(toml_str(r#"say "hi" 'x' \"#), r#""say \"hi\" 'x' \\""#);
        assert_eq!(toml_str("\u{7f}\u{1}\u{85}"), r#""\u007F\u0001\u0085""#);
        for s in ["a\nb", "x'''y", r#"""""#, "\r\n", "a\\\"b", "\t$(id)"] {
            let doc = format!("k = {}\n", toml_str(s));
            assert_eq!(doc.lines().count(), 1, "{doc}");
            let t: toml::Table = toml::from_str(&doc).unwrap();
            assert_eq!(t["k"].as_str(), Some(s));
        }
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("hello_axum"), "hello-axum");
        assert_eq!(dns_label("API__Server"), "api-server");
        assert_eq!(dns_label("1up"), "app-1up");
        assert!(check_label("k", "Bad_Name", 63).is_err());
        assert!(check_label("k", "good-name", 63).is_ok());
    }
}

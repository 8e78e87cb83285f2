//! The secrets a run has seen, and their removal from everything the host shows or stores.
//!
//! A secret is replaced by `<redacted>` in its raw form and in the form JSON encoding gives it
//! (`"` -> `\"`, `\` -> `\\`, control characters escaped), so a plugin's JSON output cannot carry
//! it past the host either. Structured records (journal lines) are redacted string by string
//! *before* they are encoded. Longer secrets go first, so a secret that contains another is
//! never left half shown. Every copy is wiped when the run ends.

use std::borrow::Cow;

use zeroize::Zeroize;

/// What a secret is replaced by.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not redacted: replacing every "a" in every message would hide
/// more than it protects. Real passwords, tokens and keys are far longer.
pub const MIN_LEN: usize = 6;

/// Every secret of one run, with the forms it may appear in.
#[derive(Default)]
pub struct Secrets {
    /// (raw, JSON-escaped when that differs), longest raw first.
    known: Vec<(String, Option<String>)>,
}

impl Secrets {
    /// Remembers `secret` (too short ones and repeats are ignored).
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_LEN || self.known.iter().any(|(raw, _)| raw == secret) {
            return;
        }
        let escaped = serde_json::to_string(secret)
            .ok()
            .map(|quoted| quoted[1..quoted.len() - 1].to_owned())
            .filter(|escaped| escaped != secret);
        self.known.push((secret.to_owned(), escaped));
        self.known
            .sort_by_key(|(raw, _)| std::cmp::Reverse(raw.len()));
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        self.redact_except(text, &[]).into_owned()
    }

    /// `text` with every secret replaced, except those in `shown` (what a command prints on
    /// purpose, like the token `credentials token` was asked for). Borrowed when `text` holds no
    /// secret: a 2.4 MB `members --format json` answer is then not copied.
    pub fn redact_except<'a>(&self, text: &'a str, shown: &[&str]) -> Cow<'a, str> {
        // Only what is a known secret can be shown: anything else asked for is ignored, so that
        // splitting on it cannot cut a real secret apart.
        let shown: Vec<&str> = shown
            .iter()
            .copied()
            .filter(|s| self.known.iter().any(|(raw, _)| raw == s))
            .collect();
        self.redact_around(text, &shown)
    }

    fn redact_around<'a>(&self, text: &'a str, shown: &[&str]) -> Cow<'a, str> {
        // Around each shown secret, so that a secret it contains is not cut out of it.
        if let Some((first, rest)) = shown.split_first() {
            if text.contains(first) {
                return Cow::Owned(
                    text.split(first)
                        .map(|part| self.redact_around(part, rest))
                        .collect::<Vec<_>>()
                        .join(first),
                );
            }
            return self.redact_around(text, rest);
        }
        let mut out = Cow::Borrowed(text);
        for (raw, escaped) in &self.known {
            for form in std::iter::once(raw).chain(escaped) {
                if holds(&out, form) {
                    let replaced = Cow::Owned(out.replace(form.as_str(), REDACTED));
                    if let Cow::Owned(mut previous) = std::mem::replace(&mut out, replaced) {
                        previous.zeroize();
                    }
                }
            }
        }
        out
    }

    /// Redacts every string value inside `value`, before it is encoded. Object keys are the
    /// record's structure, written by the plugin, and stay as they are.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(text) => {
                let mut redacted = self.redact(text);
                std::mem::swap(text, &mut redacted);
                redacted.zeroize();
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => map.values_mut().for_each(|item| self.redact_json(item)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        for (raw, escaped) in &mut self.known {
            raw.zeroize();
            if let Some(escaped) = escaped {
                escaped.zeroize();
            }
        }
    }
}

/// Whether `text` holds `secret`. The standard substring search is vectorised for needles of
/// up to 32 bytes; a longer one (a 36-character token, in a 2.6 MB member list) takes a slower
/// search, so its first 32 bytes are looked for first, and the whole only where they are.
fn holds(text: &str, secret: &str) -> bool {
    let mut head = secret.len().min(32);
    while !secret.is_char_boundary(head) {
        head -= 1;
    }
    text.contains(&secret[..head]) && text.contains(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords an admin may really choose: quotes, backslashes, spaces, `%`, non-ASCII.
    const HARD: &[&str] = &[
        r#"pa"ss"word"#,
        r"back\slash\\es",
        "with some spaces",
        "100%-sure%s%n",
        "pässwörd-ünïcødé",
        "tab\there-too",
    ];

    #[test]
    fn a_long_secret_is_found_whole_and_only_whole() {
        let token = "260570b8-e9af-05cf-9513-c03866285b98";
        let long = "ü".repeat(20); // 40 bytes: its head ends inside no character
        for secret in [token, long.as_str(), "short"] {
            assert!(holds(&format!("x{secret}y"), secret), "{secret}");
            // The head alone is not the secret.
            let head: String = secret.chars().take(secret.chars().count() - 1).collect();
            assert!(!holds(&format!("x{head}y"), secret), "{secret}");
        }
        let mut secrets = Secrets::default();
        secrets.add(token);
        assert_eq!(
            secrets.redact(&format!("[\"{token}\", \"{}\"]", &token[..33])),
            format!("[\"<redacted>\", \"{}\"]", &token[..33])
        );
    }

    #[test]
    fn raw_and_json_encoded_forms_are_redacted() {
        let mut secrets = Secrets::default();
        for secret in HARD {
            secrets.add(secret);
        }
        for secret in HARD {
            let raw = format!("setup --password={secret} failed");
            assert_eq!(
                secrets.redact(&raw),
                "setup --password=<redacted> failed",
                "{secret}"
            );
            let json = serde_json::json!({ "error": raw }).to_string();
            let redacted = secrets.redact(&json);
            assert!(redacted.contains(REDACTED), "{redacted}");
            let inner = serde_json::to_string(secret).unwrap();
            assert!(!redacted.contains(&inner[1..inner.len() - 1]), "{redacted}");
        }
    }

    #[test]
    fn records_are_redacted_before_encoding() {
        let mut secrets = Secrets::default();
        secrets.add(r#"q"uo\te"#);
        let mut record = serde_json::json!({
            "step": "setup",
            "error": r#"echo --password=q"uo\te"#,
            "nested": [{ "detail": r#"in q"uo\te"# }],
        });
        secrets.redact_json(&mut record);
        let line = record.to_string();
        assert!(!line.contains("uo"), "{line}");
        assert_eq!(record["error"], "echo --password=<redacted>");
    }

    #[test]
    fn longer_secrets_go_first_and_shown_ones_stay() {
        let mut secrets = Secrets::default();
        secrets.add("abcdef");
        secrets.add("abcdefghij");
        assert_eq!(secrets.redact("x abcdefghij y"), "x <redacted> y");
        assert_eq!(
            secrets.redact_except("abcdefghij abcdef", &["abcdefghij"]),
            "abcdefghij <redacted>"
        );
        // Showing what is not a secret cuts no secret apart.
        assert_eq!(secrets.redact_except("abcdefghij", &["def"]), "<redacted>");
        secrets.add("short");
        assert_eq!(secrets.redact("short"), "short");
    }
}

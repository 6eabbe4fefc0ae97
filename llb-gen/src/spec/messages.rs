//! Other parsers' messages in words a spec's author can act on.
//!
//! The YAML parser and serde report problems in their own terms ("expected
//! mapping start", "invalid u32", Rust type names), and the image reference
//! parser says only "invalid reference format". [`explain_yaml`] rewrites the
//! YAML messages a hand-written spec runs into and adds the fix as a hint (a
//! message it does not know is left to the caller as is);
//! [`image_reference_problem`] says what is wrong with a reference. The
//! bad-input corpus (`testdata/bad/`) shows each of them in context.

/// A friendlier message and hint for the YAML parser's `message`, when known.
pub(super) fn explain_yaml(message: &str) -> Option<(String, Option<String>)> {
    let explained = |message: &str, hint: &str| Some((message.to_owned(), Some(hint.to_owned())));
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        return Some((
            format!("the required key `{key}` is missing"),
            Some(required_key_hint(key)),
        ));
    }
    if let Some(limit) = message.strip_prefix("budget breached: ") {
        return Some((
            format!("the spec is too complex to read safely (limit reached: {limit})"),
            Some("YAML aliases (`*name`) are replayed where they are used: write the values out, or use fewer aliases".to_owned()),
        ));
    }
    if message.starts_with("multiple YAML documents detected") {
        return explained(
            "the spec holds several YAML documents (separated by `---`)",
            "pybase reads one document: put every service in one `services:` map",
        );
    }
    if message.starts_with("tabs disallowed") {
        return explained(
            "a tab is used for indentation",
            "indent with spaces: YAML does not allow tabs there",
        );
    }
    if message.starts_with("cannot deserialize null") {
        return explained(
            "this key has no value",
            "give it a value, or remove the key",
        );
    }
    if let Some(tag) = message.strip_prefix("unsupported tag ") {
        return explained(
            &format!("the YAML tag {tag} is not supported"),
            "remove the tag: the spec's keys have fixed types",
        );
    }
    if message.starts_with("unclosed bracket") {
        return Some((
            message.to_owned(),
            Some("close the list with `]` or the map with `}`".to_owned()),
        ));
    }
    match message {
        "expected mapping start" => explained(
            "expected a map",
            "write a map as `key: value` lines, indented under its key",
        ),
        "invalid u32" | "invalid u64" | "invalid i64" => explained(
            "expected a whole number, 0 or more",
            "write digits without quotes, e.g. `1`; a more-indented line below a key continues its value",
        ),
        "while parsing a block mapping, did not find expected key" => explained(
            "this line is not in line with the keys above it",
            "the keys of one map start in the same column; indent with spaces",
        ),
        "mapping values are not allowed in this context" => explained(
            "unexpected `: ` here",
            "a line indented further than the key above it continues that key's value; quote a value that contains `: `",
        ),
        "illegal placement of ':' indicator" => explained(
            "unexpected `:` here",
            "is a `[` or `{` above left unclosed?",
        ),
        "unclosed quote" => explained(
            "a quoted string is not closed",
            "end the string with the quote it starts with",
        ),
        "alias references unknown anchor" => explained(
            "this alias (`*name`) names no anchor",
            "mark the value to reuse with `&name` before using `*name`",
        ),
        _ => None,
    }
}

/// How to add a required key that is missing.
fn required_key_hint(key: &str) -> String {
    let example = match key {
        "version" => "add `version: 1` at the top",
        "services" => "add a `services:` map with one entry per image",
        "from" => "a tier starts from an image or another tier, e.g. `from: python:3.12-slim`",
        "test" => "e.g. `test: [wget, --spider, -q, http://localhost:8000/health]`",
        _ => "add it",
    };
    format!("{example}; if the key is there, check its indentation")
}

/// What is wrong with the image reference `text`, which the reference parser
/// refused with `parser_message`.
pub(super) fn image_reference_problem(text: &str, parser_message: &str) -> String {
    if text.chars().any(char::is_whitespace) {
        return "it may not contain spaces".to_owned();
    }
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return "a digest is `sha256:` followed by 64 lowercase hexadecimal digits".to_owned();
        }
    }
    // A tag follows the last `:` that is not part of a registry's port.
    let (repository, tag) = match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
        _ => (name, None),
    };
    if let Some(tag) = tag {
        if tag.is_empty() {
            return "the tag after `:` is empty".to_owned();
        }
        if tag.len() > 128 {
            return format!(
                "the tag is {} characters long; at most 128 are allowed",
                tag.len()
            );
        }
        let valid = tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !tag.starts_with(['.', '-']);
        if !valid {
            return format!(
                "the tag `{tag}` may hold only letters, digits, `_`, `.` and `-`, and may not start with `.` or `-`"
            );
        }
    }
    // The first component is a registry when it looks like a host name.
    let path = match repository.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => path,
        _ => repository,
    };
    if path.is_empty() {
        return "the repository name is empty".to_owned();
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return "the repository name must be lowercase".to_owned();
    }
    parser_message.to_owned()
}

//! Python package names: PEP 503 normalization, and the name a PEP 508
//! requirement starts with. A leaf module: every reader of projects and
//! locks uses it, and it uses nothing of the crate.

/// PEP 503 name normalization: lowercase, runs of `-_.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The distribution name a PEP 508 requirement starts with.
pub fn requirement_name(requirement: &str) -> &str {
    let requirement = requirement.trim_start();
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

/// The byte offset and the character that ends `requirement`'s name when
/// it is `.`, `-` or `_` and something follows (`six. ==1.0`): pep508_rs
/// panics on such a name rather than refusing it as it refuses one at the
/// end of the text, so every caller of its parser refuses it first.
pub fn unfinished_name(requirement: &str) -> Option<(usize, char)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !requirement.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let end = requirement.find(|c: char| !is_name(c))?;
    let last = requirement[..end].chars().next_back()?;
    matches!(last, '.' | '-' | '_').then_some((end - 1, last))
}

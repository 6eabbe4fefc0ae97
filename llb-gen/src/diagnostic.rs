//! Errors about user input, positioned in the file they came from.
//!
//! A [`Diagnostic`] names a file, a 1-based line and column, says what is
//! wrong, and may carry a hint (the fix). [`Diagnostic::render`] prints it the
//! way compilers do, with the offending line and a caret; the gateway also
//! turns it into a BuildKit source-map error so buildx shows the excerpt.

use std::fmt;

/// A 1-based line and column in a text file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
}

impl Position {
    /// The start of a file: where problems with the file as a whole are
    /// reported (its size, its emptiness).
    pub const START: Self = Self { line: 1, column: 1 };

    /// Where the first byte that is not UTF-8 is in `bytes` (`error` is what
    /// `std::str::from_utf8(bytes)` said).
    pub fn of_invalid_utf8(bytes: &[u8], error: &std::str::Utf8Error) -> Self {
        let valid = bytes
            .get(..error.valid_up_to())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// A position from serde-saphyr's location, if it is known.
    pub fn from_location(location: serde_saphyr::Location) -> Option<Self> {
        let line = u32::try_from(location.line()).ok()?;
        let column = u32::try_from(location.column()).ok()?;
        (line > 0).then_some(Self {
            line,
            column: column.max(1),
        })
    }
}

/// One problem with the user's input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    /// The file, as the user named it (e.g. `pybase.yaml`, `app/uv.lock`).
    pub file: String,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// What is wrong, without the position.
    pub message: String,
    /// How to fix it, when we know.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at a known position.
    pub fn at(file: &str, position: Option<Position>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            position,
            message: message.into(),
            hint: None,
        }
    }

    /// Add a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col` (or just `file`).
    pub fn location(&self) -> String {
        match self.position {
            Some(p) => format!("{}:{}:{}", self.file, p.line, p.column),
            None => self.file.clone(),
        }
    }

    /// The full report: `error: file:line:col: message`, the source line with
    /// a caret under the column (when `source` is the file's text), the hint.
    pub fn render(&self, source: Option<&str>) -> String {
        self.render_as("error", source)
    }

    /// [`Diagnostic::render`] with another label than `error` (e.g.
    /// `warning[Rule]`).
    pub fn render_as(&self, label: &str, source: Option<&str>) -> String {
        let mut out = format!("{label}: {}: {}\n", self.location(), self.message);
        if let (Some(position), Some(text)) = (self.position, source)
            && let Some(line) = (position.line as usize)
                .checked_sub(1)
                .and_then(|index| text.lines().nth(index))
        {
            // A byte-order mark is not part of the first line's columns.
            let line = line.strip_prefix('\u{feff}').unwrap_or(line);
            let number = position.line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_pad: String = line
                .chars()
                .take((position.column as usize).saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(
                "{gutter} |\n{number} | {line}\n{gutter} | {caret_pad}^\n"
            ));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in one pass over the input (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The first problem (the one a build reports with a source excerpt).
    pub fn first(&self) -> Option<&Diagnostic> {
        self.0.first()
    }

    /// All reports, rendered against `source` (see [`Diagnostic::render`]).
    pub fn render(&self, source: Option<&str>) -> String {
        self.0
            .iter()
            .map(|d| d.render(source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

// Positions in source text, for the checks that find what to point at by
// searching the text.

/// The position of the first occurrence of `needle` in `text`.
pub fn find(text: &str, needle: &str) -> Option<Position> {
    text.find(needle).map(|offset| position_of(text, offset))
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// The position of the key `key` (bare, or quoted) in the table `[table]`
/// of a TOML text: the first `key =` line after the header, before the
/// next one.
pub(crate) fn find_table_key(text: &str, table: &str, key: &str) -> Option<Position> {
    let header = format!("[{table}]");
    let quoted = format!("\"{key}\"");
    let mut inside = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            inside = trimmed.starts_with(&header);
        } else if inside
            && trimmed
                .strip_prefix(key)
                .or_else(|| trimmed.strip_prefix(quoted.as_str()))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(position_of(text, offset + line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_line_and_a_caret() {
        let d = Diagnostic::at(
            "pybase.yaml",
            Some(Position { line: 2, column: 3 }),
            "unknown field `prot`",
        )
        .with_hint("did you mean `ports`?");
        insta::assert_snapshot!(d.render(Some("a:\n  prot: 80\n")), @r"
        error: pybase.yaml:2:3: unknown field `prot`
          |
        2 |   prot: 80
          |   ^
        hint: did you mean `ports`?
        ");
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            did_you_mean("comand", ["command", "system"]),
            Some("command")
        );
        assert_eq!(did_you_mean("zzzzzz", ["command", "system"]), None);
    }
}

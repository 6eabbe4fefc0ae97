//! Every YAML example of the spec reference (`specs/reference.md`) that is
//! a spec (it has `services:` or `tiers:`) parses and validates, so the
//! reference cannot show a key the parser refuses. Examples without
//! `version:` get `version: 1` first; `${NAME}` references get the build
//! args below.

use llb_gen::spec::{self, BuildArgs};

const REFERENCE: &str = include_str!("../../specs/reference.md");

/// The YAML code blocks of the reference, with the line each starts on.
fn yaml_blocks() -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in REFERENCE.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some((index + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_spec_example_in_the_reference_is_valid() {
    let args: BuildArgs = [("VERSION", "1.4.2")].into_iter().collect();
    let examples: Vec<(usize, String)> = yaml_blocks()
        .into_iter()
        .filter(|(_, text)| text.contains("services:") || text.contains("tiers:"))
        .collect();
    assert!(
        examples.len() >= 6,
        "found only {} examples",
        examples.len()
    );
    for (line, text) in examples {
        let text = if text.contains("\nversion:") || text.starts_with("version:") {
            text
        } else {
            format!("version: 1\n{text}")
        };
        if let Err(problems) = spec::parse_with_args("reference.md", text.as_bytes(), &args) {
            panic!("the example at specs/reference.md:{line} is refused:\n{problems}\n{text}");
        }
    }
}

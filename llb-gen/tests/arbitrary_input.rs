//! Property tests: no input makes the parser or the planner panic, and every
//! error points inside the file it names.
//!
//! Two generators: arbitrary bytes into `spec::parse`, and the fixture spec
//! with random edits (bytes, lines, YAML tokens) through the whole pipeline
//! the frontend runs (parse, select the target, check the project files,
//! plan and marshal). A build that succeeds must also be describable and
//! byte-for-byte repeatable.

use llb_gen::diagnostic::Diagnostics;
use llb_gen::llb::Platform;
use llb_gen::plan::{self, BuildInputs, TargetImages};
use llb_gen::project::ProjectFiles;
use proptest::prelude::*;
use prost::Message;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/projects/inventory"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURE}/{name}")).expect("fixture file")
}

/// Every positioned diagnostic lies within `text` (1-based; the line after
/// the last is allowed for "unexpected end").
fn assert_positions_within(problems: &Diagnostics, text: &[u8]) {
    let lines = text.split(|b| *b == b'\n').count();
    for problem in &problems.0 {
        assert!(!problem.message.is_empty(), "an error without a message");
        if let Some(position) = problem.position {
            assert!(
                position.line >= 1 && (position.line as usize) <= lines + 1 && position.column >= 1,
                "{problem} points outside its {lines}-line input"
            );
        }
    }
}

/// The frontend's pipeline, without BuildKit: the definition's bytes, or the
/// problems.
fn pipeline(spec_bytes: &[u8]) -> Result<Vec<u8>, String> {
    let spec = llb_gen::spec::parse("pybase.yaml", spec_bytes).map_err(|problems| {
        assert_positions_within(&problems, spec_bytes);
        problems.to_string()
    })?;
    let target = plan::select_target(&spec, None).map_err(|d| d.to_string())?;
    let stack: Vec<ProjectFiles<'_>> = target
        .projects()
        .into_iter()
        .map(|project| ProjectFiles {
            pyproject: Some(fixture("pyproject.toml")),
            lock: Some(fixture("uv.lock")),
            ..ProjectFiles::new(project)
        })
        .collect();
    let infos = llb_gen::project::check_stack(&spec.file, &stack).map_err(|d| d.to_string())?;
    let platform = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: String::new(),
    };
    let images = TargetImages::unresolved(&target, platform).ok_or("no base image")?;
    let inputs = BuildInputs::new("s", &spec.file, spec_bytes, &target, &stack, &infos, images)
        .map_err(|d| d.to_string())?;
    let build = plan::build(
        &target,
        &BuildInputs {
            prefer_mergeop: true,
            ..inputs
        },
    )
    .map_err(|e| e.to_string())?;
    llb_gen::describe::describe(&build.definition).map_err(|e| e.to_string())?;
    Ok(build.definition.encode_to_vec())
}

/// A random edit of the spec's text.
#[derive(Clone, Debug)]
enum Edit {
    DeleteByte(usize),
    InsertByte(usize, u8),
    ReplaceByte(usize, u8),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertToken(usize, &'static str),
}

const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!str ",
    "\t",
    "\n",
    "#",
    "'",
    "\"",
    "? ",
    "|",
    ">",
    "~",
    "null",
    "true",
    "-1",
    "1e400",
    "services:",
    "from:",
    "  ",
    "\u{feff}",
    "é",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteByte),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::InsertByte(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::ReplaceByte(i, b)),
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), proptest::sample::select(TOKENS))
            .prop_map(|(i, t)| Edit::InsertToken(i, t)),
    ]
}

fn apply(text: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *edit {
        Edit::DeleteByte(i) if !text.is_empty() => {
            let i = at(i, text.len());
            text.remove(i);
        }
        Edit::InsertByte(i, b) => {
            let i = at(i, text.len() + 1);
            text.insert(i, b);
        }
        Edit::ReplaceByte(i, b) if !text.is_empty() => {
            let i = at(i, text.len());
            text[i] = b;
        }
        Edit::InsertToken(i, token) => {
            let i = at(i, text.len() + 1);
            text.splice(i..i, token.bytes());
        }
        Edit::DeleteLine(i) | Edit::DuplicateLine(i) | Edit::SwapLines(i, _) => {
            let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let i = at(i, n);
            match *edit {
                Edit::DeleteLine(_) => {
                    lines.remove(i);
                }
                Edit::DuplicateLine(_) => {
                    let line = lines[i].clone();
                    lines.insert(i, line);
                }
                Edit::SwapLines(_, j) => lines.swap(i, at(j, n)),
                _ => {}
            }
            *text = lines.join(&b'\n');
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(problems) = llb_gen::spec::parse("pybase.yaml", &bytes) {
            assert_positions_within(&problems, &bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn edited_specs_never_panic_the_pipeline(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut text = fixture("pybase.yaml");
        for edit in &edits {
            apply(&mut text, edit);
        }
        if let Ok(bytes) = pipeline(&text) {
            // A spec that builds builds the same bytes every time.
            prop_assert_eq!(Some(bytes), pipeline(&text).ok());
        }
    }
}

//! `pybase check` lints a valid spec: warnings are reported with their
//! positions after the errors, and fail the check only with `--strict`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/projects/inventory"
);

/// The fixture project with `spec` as its pybase.yaml, in a scratch
/// directory.
fn project_with_spec(test: &str, spec: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("check-lints")
        .join(test);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    for file in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(Path::new(FIXTURE).join(file), dir.join(file)).expect("copy");
    }
    let path = dir.join("pybase.yaml");
    std::fs::write(&path, spec).expect("spec");
    path
}

#[test]
fn warnings_are_reported_but_fail_only_a_strict_check() {
    let spec = project_with_spec(
        "warnings",
        "version: 1\nservices:\n  inventory:\n    from: python:latest\n    command: [inventory]\n",
    );
    let report = pybase::cli::check_report(&spec, None, &Default::default()).expect("checked");
    assert!(report.errors.is_empty(), "{}", report.text);
    let rules: Vec<&str> = report.warnings.iter().map(|w| w.rule).collect();
    assert_eq!(rules, ["BaseImageNotPinned"]);
    assert!(
        report
            .text
            .starts_with("warning[BaseImageNotPinned]: pybase.yaml:4:11: "),
        "{}",
        report.text
    );
    assert!(
        report.text.ends_with(": ok (1 service, 1 warning)\n"),
        "{}",
        report.text
    );
    assert_eq!(
        pybase::cli::check(&spec, None, &Default::default(), &Default::default(), false)
            .expect("checked"),
        ExitCode::SUCCESS
    );
    assert_eq!(
        pybase::cli::check(&spec, None, &Default::default(), &Default::default(), true)
            .expect("checked"),
        ExitCode::FAILURE
    );
}

#[test]
fn the_fixture_spec_has_no_warnings() {
    let spec = Path::new(FIXTURE).join("pybase.yaml");
    let report = pybase::cli::check_report(&spec, None, &Default::default()).expect("checked");
    assert!(
        report.errors.is_empty() && report.warnings.is_empty(),
        "{}",
        report.text
    );
}

#[test]
fn packages_declared_again_above_their_tier_are_pointed_at_in_pyproject() {
    let spec = Path::new(FIXTURE).join("../tiered/pybase.yaml");
    let report = pybase::cli::check_report(&spec, None, &Default::default()).expect("checked");
    assert!(report.errors.is_empty(), "{}", report.text);
    let found: Vec<(&str, String)> = report
        .warnings
        .iter()
        .map(|w| (w.rule, w.diagnostic.location()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "PackageInTierAndService",
                "tiers/web/pyproject.toml:8:6".to_owned()
            ),
            (
                "PackageInTierAndService",
                "services/billing/pyproject.toml:7:6".to_owned()
            ),
            (
                "PackageInTierAndService",
                "services/orders/pyproject.toml:7:6".to_owned()
            ),
            (
                "PackageInTierAndService",
                "services/orders/pyproject.toml:8:6".to_owned()
            ),
        ]
    );
    // Rendered against the pyproject.toml it points into.
    assert!(
        report.text.contains("8 |     \"idna==3.10\","),
        "{}",
        report.text
    );
}

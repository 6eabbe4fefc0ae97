//! Answers to buildx's subrequests (`docker buildx build --call NAME`).
//!
//! A subrequest builds nothing: the frontend returns metadata instead of a
//! ref, `result.json` (which buildx formats) and optionally `result.txt`
//! (which buildx prints as is when the answer's `version` is newer than it
//! knows), plus that `version`. pybase answers, with the JSON shapes of
//! BuildKit's `frontend/subrequests` packages:
//!
//! - `frontend.subrequests.describe`: the list of what it answers;
//! - `frontend.targets` (`--call targets`): the spec's targets;
//! - `frontend.outline` (`--call outline`): what the chosen target reads
//!   besides the spec, its build args (with their current values) and
//!   secrets;
//! - `frontend.lint` (`--call check`; buildx renames `check` to `lint`): the
//!   [`llb_gen::lint`] warnings as BuildKit lint results, with
//!   `result.statuscode` 1 when there is one, which buildx makes its exit
//!   code.

use std::collections::HashMap;

use base64::Engine;
use llb_gen::diagnostic::Diagnostic;
use llb_gen::lint::{self, Warning};
use llb_gen::plan;
use llb_gen::spec::Spec;
use serde_json::{Value, json};

use crate::bridge::source_range;
use crate::options::{BUILD_ARGS, Options};

/// `--call subrequests.describe`.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// `--call targets`.
pub const TARGETS: &str = "frontend.targets";
/// `--call outline`.
pub const OUTLINE: &str = "frontend.outline";
/// `--call check` (buildx asks for `lint`).
pub const LINT: &str = "frontend.lint";
const VERSION: &str = "1.0.0";

/// A subrequest pybase answers, as `subrequests.describe` lists it.
struct Answered {
    name: &'static str,
    description: &'static str,
    /// Options it reads: name and description.
    opts: &'static [(&'static str, &'static str)],
    metadata: &'static [&'static str],
}

/// The subrequests pybase answers.
const ANSWERED: &[Answered] = &[
    Answered {
        name: DESCRIBE,
        description: "List available subrequest types",
        opts: &[],
        metadata: &["result.json", "result.txt"],
    },
    Answered {
        name: TARGETS,
        description: "List all targets current build supports",
        opts: &[],
        metadata: &["result.json"],
    },
    Answered {
        name: OUTLINE,
        description: "List all parameters current build target supports",
        opts: &[("target", "Target build stage")],
        metadata: &["result.json", "result.txt"],
    },
    Answered {
        name: LINT,
        description: "Lint a pybase spec",
        opts: &[],
        metadata: &["result.json", "result.txt", "result.statuscode"],
    },
];

/// The names of the subrequests pybase answers, for error messages.
pub fn answered_names() -> Vec<&'static str> {
    ANSWERED.iter().map(|a| a.name).collect()
}

/// What a subrequest returns: `result.json`, and `result.txt` and
/// `result.statuscode` when it has them.
struct Reply {
    json: Value,
    text: Option<String>,
    status: Option<u8>,
}

/// The answer to `request` about `spec` (whose bytes are `spec_bytes`), as
/// result metadata; `None` when pybase does not answer that request, an
/// error when the request names a target the spec does not have.
/// `project_warnings` are the lint warnings about project files, which
/// only [`LINT`] reports.
pub fn answer(
    request: &str,
    spec: &Spec,
    spec_bytes: &[u8],
    options: &Options,
    project_warnings: &[FileWarning],
) -> Option<Result<HashMap<String, Vec<u8>>, Diagnostic>> {
    let reply = match request {
        DESCRIBE => describe(),
        TARGETS => targets(spec),
        OUTLINE => match outline(spec, options) {
            Ok(reply) => reply,
            Err(problem) => return Some(Err(problem)),
        },
        LINT => check(spec, spec_bytes, project_warnings),
        _ => return None,
    };
    let mut metadata = HashMap::from([
        (
            "result.json".to_owned(),
            serde_json::to_vec_pretty(&reply.json).unwrap_or_default(),
        ),
        ("version".to_owned(), VERSION.as_bytes().to_vec()),
    ]);
    if let Some(text) = reply.text {
        metadata.insert("result.txt".to_owned(), text.into_bytes());
    }
    if let Some(status) = reply.status {
        metadata.insert(
            "result.statuscode".to_owned(),
            status.to_string().into_bytes(),
        );
    }
    Some(Ok(metadata))
}

fn describe() -> Reply {
    let named =
        |(name, description): &(&str, &str)| json!({"name": name, "description": description});
    let list: Vec<Value> = ANSWERED
        .iter()
        .map(|answered| {
            json!({
                "name": answered.name,
                "version": VERSION,
                "type": "rpc",
                "description": answered.description,
                "opts": answered.opts.iter().map(named).collect::<Vec<_>>(),
                "metadata": answered.metadata.iter().map(|m| json!({"name": m})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let rows: Vec<[String; 3]> = ANSWERED
        .iter()
        .map(|a| {
            [
                a.name.trim_start_matches("frontend.").to_owned(),
                VERSION.to_owned(),
                a.description.to_owned(),
            ]
        })
        .collect();
    Reply {
        json: json!(list),
        text: Some(table(["NAME", "VERSION", "DESCRIPTION"], &rows)),
        status: None,
    }
}

fn targets(spec: &Spec) -> Reply {
    let default = (spec.services.len() == 1)
        .then(|| spec.services.keys().next().cloned())
        .flatten();
    let targets: Vec<Value> = plan::targets(spec)
        .into_iter()
        .map(|(name, description)| {
            let is_default = default.as_deref() == Some(name.as_str());
            let mut target = json!({"name": name, "description": description});
            if is_default {
                target["default"] = json!(true);
            }
            target
        })
        .chain([json!({"name": plan::LOCK_TARGET, "description": plan::LOCK_DESCRIPTION})])
        .collect();
    Reply {
        json: json!({ "targets": targets }),
        text: None,
        status: None,
    }
}

/// `--target lock`'s own build args: name, default, description.
const LOCK_ARGS: &[(&str, &str, &str)] = &[
    (
        plan::LOCK_TARGETS_ARG,
        "",
        "the tiers and services to lock, separated by commas (default: every one with a project)",
    ),
    (
        plan::LOCK_UPGRADE_ARG,
        "",
        "`all`, or packages separated by commas, to upgrade (default: keep the existing locks' pins)",
    ),
];

/// The build args the target reads (with the value this build gives them)
/// and the secrets it may mount.
fn outline(spec: &Spec, options: &Options) -> Result<Reply, Diagnostic> {
    let locking = options.target() == Some(plan::LOCK_TARGET);
    let (name, description, own_args) = if locking {
        (
            plan::LOCK_TARGET.to_owned(),
            plan::LOCK_DESCRIPTION.to_owned(),
            LOCK_ARGS,
        )
    } else {
        let target = plan::select_target(spec, options.target())?;
        let name = target.name();
        let description = plan::targets(spec)
            .into_iter()
            .find(|(target, _)| *target == name)
            .map(|(_, description)| description)
            .unwrap_or_default();
        (name, description, BUILD_ARGS)
    };
    // pybase's own, then those the spec refers to (`${NAME}`).
    let args: Vec<(&str, &str, &str)> = own_args
        .iter()
        .map(|(arg, default, about)| (*arg, options.build_arg(arg).unwrap_or(default), *about))
        .chain(
            spec.build_args
                .iter()
                .filter(|arg| !own_args.iter().any(|(own, _, _)| own == arg))
                .map(|arg| {
                    let value = options.build_arg(arg).unwrap_or_default();
                    (arg.as_str(), value, "referred to in the spec as ${NAME}")
                }),
        )
        .collect();
    let args_json: Vec<Value> = args
        .iter()
        .map(|(arg, value, about)| {
            let mut entry = json!({"name": arg, "description": about});
            if !value.is_empty() {
                entry["value"] = json!(value);
            }
            entry
        })
        .collect();
    let mut text = format!("TARGET:      {name}\nDESCRIPTION: {description}\n\n");
    let rows: Vec<[String; 3]> = args
        .iter()
        .map(|(arg, value, about)| [(*arg).to_owned(), (*value).to_owned(), (*about).to_owned()])
        .collect();
    text.push_str(&table(["BUILD ARG", "VALUE", "DESCRIPTION"], &rows));
    text.push('\n');
    // All optional: the CA bundle and the netrc where an index needs
    // them, the host keys and the agent where a lock has a git dependency
    // over SSH (that venv step then requires both). The lock steps mount
    // the first two only.
    let secrets: &[&str] = if locking {
        &[plan::CA_BUNDLE_SECRET, plan::NETRC_SECRET]
    } else {
        &[
            plan::CA_BUNDLE_SECRET,
            plan::NETRC_SECRET,
            plan::KNOWN_HOSTS_SECRET,
        ]
    };
    text.push_str(&table(
        ["SECRET", "REQUIRED"],
        &secrets
            .iter()
            .map(|secret| [(*secret).to_owned(), String::new()])
            .collect::<Vec<_>>(),
    ));
    let ssh: Vec<Value> = if locking {
        Vec::new()
    } else {
        text.push('\n');
        text.push_str(&table(
            ["SSH", "REQUIRED"],
            &[[plan::SSH_ID.to_owned(), String::new()]],
        ));
        vec![json!({"name": plan::SSH_ID})]
    };
    Ok(Reply {
        json: json!({
            "name": name,
            "description": description,
            "args": args_json,
            // Optional (`required` false, left out as BuildKit does).
            "secrets": secrets.iter().map(|secret| json!({"name": secret})).collect::<Vec<_>>(),
            "ssh": ssh,
        }),
        text: Some(text),
        status: None,
    })
}

/// A warning about a project file, with that file's bytes (the spec's
/// warnings come from the spec alone; these need the project files, which
/// the gateway reads for `--call check`).
#[derive(Clone, Debug)]
pub struct FileWarning {
    /// The warning; its diagnostic names the file.
    pub warning: Warning,
    /// The file's bytes, sent along as a lint source.
    pub source: Vec<u8>,
}

/// The lint warnings as BuildKit's `LintResults`: the spec's, then those
/// about project files; the spec is source 0, each project file that a
/// warning points into one more source.
fn check(spec: &Spec, spec_bytes: &[u8], project_warnings: &[FileWarning]) -> Reply {
    let text = String::from_utf8_lossy(spec_bytes);
    let spec_warnings = lint::lint(spec, &text);
    let mut sources = vec![json!({
        "filename": spec.file,
        "language": "yaml",
        "data": base64::engine::general_purpose::STANDARD.encode(spec_bytes),
    })];
    let mut source_names = vec![spec.file.clone()];
    let mut warnings_json: Vec<Value> = spec_warnings.iter().map(|w| warning_json(w, 0)).collect();
    let mut reports: Vec<String> = spec_warnings
        .iter()
        .map(|w| w.render(Some(&text)))
        .collect();
    for FileWarning { warning, source } in project_warnings {
        let file = &warning.diagnostic.file;
        let index = match source_names.iter().position(|n| n == file) {
            Some(index) => index,
            None => {
                source_names.push(file.clone());
                sources.push(json!({
                    "filename": file,
                    "language": "toml",
                    "data": base64::engine::general_purpose::STANDARD.encode(source),
                }));
                source_names.len() - 1
            }
        };
        warnings_json.push(warning_json(warning, index));
        reports.push(warning.render(Some(&String::from_utf8_lossy(source))));
    }
    let report = if reports.is_empty() {
        "no warnings\n".to_owned()
    } else {
        reports.join("\n")
    };
    Reply {
        json: json!({
            "warnings": warnings_json,
            "sources": sources,
        }),
        text: Some(report),
        status: Some(u8::from(!warnings_json.is_empty())),
    }
}

fn warning_json(warning: &Warning, source_index: usize) -> Value {
    let problem = &warning.diagnostic;
    let detail = match &problem.hint {
        Some(hint) => format!("{} (hint: {hint})", problem.message),
        None => problem.message.clone(),
    };
    // -1 (no source) for a warning without a position.
    let location = match problem.position {
        Some(position) => {
            json!({"sourceIndex": source_index, "ranges": [source_range(position)]})
        }
        None => json!({"sourceIndex": -1}),
    };
    json!({
        "ruleName": warning.rule,
        "description": warning.description,
        "detail": detail,
        "location": location,
    })
}

/// Rows under a header, in columns.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        llb_gen::spec::parse("pybase.yaml", yaml.as_bytes()).expect("valid spec")
    }

    fn options(pairs: &[&str]) -> Options {
        Options::from_pairs(pairs.iter().map(|p| (*p).to_owned()), "s".into())
    }

    fn metadata(request: &str, yaml: &str, pairs: &[&str]) -> HashMap<String, Vec<u8>> {
        answer(request, &spec(yaml), yaml.as_bytes(), &options(pairs), &[])
            .expect("answered")
            .expect("no error")
    }

    fn result_json(request: &str, yaml: &str, pairs: &[&str]) -> Value {
        let metadata = metadata(request, yaml, pairs);
        assert_eq!(metadata["version"], b"1.0.0");
        serde_json::from_slice(&metadata["result.json"]).expect("JSON")
    }

    const ONE: &str =
        "version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    command: [api]\n";

    #[test]
    fn targets_lists_services_and_their_bases_with_the_only_service_as_default() {
        insta::assert_json_snapshot!(result_json(TARGETS, ONE, &[]), @r#"
        {
          "targets": [
            {
              "default": true,
              "description": "service image (python:3.12-slim + venv + code)",
              "name": "api"
            },
            {
              "description": "base image of `api` (python:3.12-slim + venv, no project code)",
              "name": "api-base"
            },
            {
              "description": "the locks of the spec's projects, written at their paths (`--output type=local,dest=.`): requirements.txt from requirements.in, uv.lock from pyproject.toml; tiers first, each a constraint of what stands on it",
              "name": "lock"
            }
          ]
        }
        "#);
    }

    #[test]
    fn several_services_have_no_default() {
        let yaml = "version: 1\nservices:\n  a:\n    from: python:3\n  b:\n    from: python:3\n";
        let targets = result_json(TARGETS, yaml, &[]);
        assert!(
            targets["targets"]
                .as_array()
                .is_some_and(|t| t.len() == 5 && t.iter().all(|t| t.get("default").is_none()))
        );
    }

    #[test]
    fn describe_lists_what_pybase_answers() {
        let list = result_json(DESCRIBE, ONE, &[]);
        let names: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names, [DESCRIBE, TARGETS, OUTLINE, LINT]);
        assert_eq!(list[2]["opts"][0]["name"], json!("target"));
        let text =
            String::from_utf8(metadata(DESCRIBE, ONE, &[])["result.txt"].clone()).expect("text");
        insta::assert_snapshot!(text, @r"
        NAME                   VERSION   DESCRIPTION
        subrequests.describe   1.0.0     List available subrequest types
        targets                1.0.0     List all targets current build supports
        outline                1.0.0     List all parameters current build target supports
        lint                   1.0.0     Lint a pybase spec
        ");
        assert!(
            answer(
                "frontend.dump-llb",
                &spec(ONE),
                ONE.as_bytes(),
                &options(&[]),
                &[]
            )
            .is_none()
        );
    }

    #[test]
    fn outline_lists_the_build_args_the_spec_refers_to() {
        let yaml = "version: 1\nservices:\n  api:\n    from: python:3.12-slim\n    labels: {channel: \"${CHANNEL:-stable}\"}\n";
        let pairs = ["target=api", "build-arg:CHANNEL=beta"];
        let outline = result_json(OUTLINE, yaml, &pairs);
        let args = outline["args"].as_array().expect("args");
        assert_eq!(
            args.last(),
            Some(
                &json!({"name": "CHANNEL", "value": "beta", "description": "referred to in the spec as ${NAME}"})
            )
        );
    }

    #[test]
    fn outline_lists_the_build_args_with_this_builds_values_the_secrets_and_ssh() {
        let pairs = ["target=api-base", "build-arg:SOURCE_DATE_EPOCH=1700000000"];
        insta::assert_json_snapshot!(result_json(OUTLINE, ONE, &pairs), @r#"
        {
          "args": [
            {
              "description": "assemble the image with MergeOp when BuildKit offers it (`false`: copy the layers)",
              "name": "PYBASE_MERGEOP",
              "value": "true"
            },
            {
              "description": "the build's date in seconds since 1970: the image's `created` and its label",
              "name": "SOURCE_DATE_EPOCH",
              "value": "1700000000"
            },
            {
              "description": "the build's date (RFC 3339) for the `org.opencontainers.image.created` label",
              "name": "BUILD_DATE"
            },
            {
              "description": "the source revision for `org.opencontainers.image.revision` (default: buildx's git information)",
              "name": "VCS_REF"
            },
            {
              "description": "the source repository for `org.opencontainers.image.source` (default: buildx's git information)",
              "name": "VCS_URL"
            }
          ],
          "description": "base image of `api` (python:3.12-slim + venv, no project code)",
          "name": "api-base",
          "secrets": [
            {
              "name": "ca-bundle"
            },
            {
              "name": "netrc"
            },
            {
              "name": "known_hosts"
            }
          ],
          "ssh": [
            {
              "name": "default"
            }
          ]
        }
        "#);
        let text =
            String::from_utf8(metadata(OUTLINE, ONE, &pairs)["result.txt"].clone()).expect("text");
        insta::assert_snapshot!(text, @r"
        TARGET:      api-base
        DESCRIPTION: base image of `api` (python:3.12-slim + venv, no project code)

        BUILD ARG           VALUE        DESCRIPTION
        PYBASE_MERGEOP      true         assemble the image with MergeOp when BuildKit offers it (`false`: copy the layers)
        SOURCE_DATE_EPOCH   1700000000   the build's date in seconds since 1970: the image's `created` and its label
        BUILD_DATE                       the build's date (RFC 3339) for the `org.opencontainers.image.created` label
        VCS_REF                          the source revision for `org.opencontainers.image.revision` (default: buildx's git information)
        VCS_URL                          the source repository for `org.opencontainers.image.source` (default: buildx's git information)

        SECRET        REQUIRED
        ca-bundle
        netrc
        known_hosts

        SSH       REQUIRED
        default
        ");
    }

    #[test]
    fn outline_of_an_unknown_target_is_an_error_at_the_spec() {
        let problem = answer(
            OUTLINE,
            &spec(ONE),
            ONE.as_bytes(),
            &options(&["target=nope"]),
            &[],
        )
        .expect("answered")
        .expect_err("unknown target");
        assert!(problem.message.starts_with("unknown target `nope`"));
        assert!(problem.position.is_some());
    }

    #[test]
    fn check_reports_lint_warnings_with_a_failing_status() {
        let yaml = "version: 1\nservices:\n  api:\n    from: python\n";
        let metadata = metadata(LINT, yaml, &[]);
        assert_eq!(metadata["result.statuscode"], b"1");
        let results: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
        insta::assert_json_snapshot!(results["warnings"], @r#"
        [
          {
            "description": "The base image should name a version: a tag other than `latest`, or a digest",
            "detail": "the base image `python` of service `api` has no tag (so `latest`): it changes without notice (hint: name a version, e.g. `python:3.12-slim`, or pin a digest (`@sha256:…`))",
            "location": {
              "ranges": [
                {
                  "end": {
                    "character": 11,
                    "line": 4
                  },
                  "start": {
                    "character": 11,
                    "line": 4
                  }
                }
              ],
              "sourceIndex": 0
            },
            "ruleName": "BaseImageNotPinned"
          },
          {
            "description": "A service without `command` or `entrypoint` runs its base image's command",
            "detail": "service `api` sets neither `command` nor `entrypoint`: its image runs the command of `python` (hint: e.g. `command: [your-script]` (a `[project.scripts]` entry is on the venv's PATH))",
            "location": {
              "ranges": [
                {
                  "end": {
                    "character": 3,
                    "line": 3
                  },
                  "start": {
                    "character": 3,
                    "line": 3
                  }
                }
              ],
              "sourceIndex": 0
            },
            "ruleName": "ServiceWithoutCommand"
          }
        ]
        "#);
        assert_eq!(results["sources"][0]["filename"], json!("pybase.yaml"));
        assert_eq!(results["sources"][0]["language"], json!("yaml"));
    }

    #[test]
    fn check_of_a_clean_spec_passes() {
        let metadata = metadata(LINT, ONE, &[]);
        assert_eq!(metadata["result.statuscode"], b"0");
        let results: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
        assert_eq!(results["warnings"], json!([]));
    }
}

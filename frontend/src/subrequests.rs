//! Answers to buildx's subrequests (`docker buildx build --call NAME`).
//!
//! A subrequest builds nothing: the frontend returns metadata instead of a
//! ref, `result.json` (which buildx formats) and optionally `result.txt`
//! (which buildx prints as is), plus the answer's `version`. pybase answers
//! `frontend.subrequests.describe` (the list of what it answers) and
//! `frontend.targets` (the spec's targets with a description each).

use std::collections::HashMap;

use llb_gen::plan;
use llb_gen::spec::Spec;
use serde_json::json;

/// `--call subrequests.describe`.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// `--call targets`.
pub const TARGETS: &str = "frontend.targets";
const VERSION: &str = "1.0.0";

/// The subrequests pybase answers: `(name, description, metadata keys)`.
const ANSWERED: &[(&str, &str, &[&str])] = &[
    (
        DESCRIBE,
        "List available subrequest types",
        &["result.json", "result.txt"],
    ),
    (
        TARGETS,
        "List all targets current build supports",
        &["result.json"],
    ),
];

/// The answer to `request` about `spec`, as result metadata, or `None` when
/// pybase does not answer that request.
pub fn answer(request: &str, spec: &Spec) -> Option<HashMap<String, Vec<u8>>> {
    let (json, text) = match request {
        DESCRIBE => {
            let list: Vec<_> = ANSWERED
                .iter()
                .map(|(name, description, metadata)| {
                    json!({
                        "name": name,
                        "version": VERSION,
                        "type": "rpc",
                        "description": description,
                        "metadata": metadata.iter().map(|m| json!({"name": m})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut text = String::from("NAME                  VERSION DESCRIPTION\n");
            for (name, description, _) in ANSWERED {
                let short = name.trim_start_matches("frontend.");
                text.push_str(&format!("{short:<21} {VERSION:<7} {description}\n"));
            }
            (json!(list), Some(text))
        }
        TARGETS => {
            let default = (spec.services.len() == 1)
                .then(|| spec.services.keys().next().cloned())
                .flatten();
            let targets: Vec<_> = plan::targets(spec)
                .into_iter()
                .map(|(name, description)| {
                    let is_default = default.as_deref() == Some(name.as_str());
                    let mut target = json!({"name": name, "description": description});
                    if is_default {
                        target["default"] = json!(true);
                    }
                    target
                })
                .collect();
            (json!({ "targets": targets }), None)
        }
        _ => return None,
    };
    let mut metadata = HashMap::from([
        (
            "result.json".to_owned(),
            serde_json::to_vec_pretty(&json).unwrap_or_default(),
        ),
        ("version".to_owned(), VERSION.as_bytes().to_vec()),
    ]);
    if let Some(text) = text {
        metadata.insert("result.txt".to_owned(), text.into_bytes());
    }
    Some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        llb_gen::spec::parse("pybase.yaml", yaml.as_bytes()).expect("valid spec")
    }

    fn result_json(request: &str, spec: &Spec) -> serde_json::Value {
        let metadata = answer(request, spec).expect("answered");
        assert_eq!(metadata["version"], b"1.0.0");
        serde_json::from_slice(&metadata["result.json"]).expect("JSON")
    }

    #[test]
    fn targets_lists_services_and_their_bases_with_the_only_service_as_default() {
        let spec = spec("version: 1\nservices:\n  api:\n    from: python:3.12-slim\n");
        insta::assert_json_snapshot!(result_json(TARGETS, &spec), @r#"
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
            }
          ]
        }
        "#);
    }

    #[test]
    fn several_services_have_no_default() {
        let spec =
            spec("version: 1\nservices:\n  a:\n    from: python:3\n  b:\n    from: python:3\n");
        let targets = result_json(TARGETS, &spec);
        assert!(
            targets["targets"]
                .as_array()
                .is_some_and(|t| t.len() == 4 && t.iter().all(|t| t.get("default").is_none()))
        );
    }

    #[test]
    fn describe_lists_what_pybase_answers() {
        let spec = spec("version: 1\nservices:\n  a:\n    from: python:3\n");
        let list = result_json(DESCRIBE, &spec);
        let names: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names, [DESCRIBE, TARGETS]);
        assert!(answer("frontend.outline", &spec).is_none());
    }
}

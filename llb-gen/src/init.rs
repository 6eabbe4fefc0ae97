//! A starting spec for an existing project (`pybase init`).
//!
//! [`starter_spec`] reads a project's `pyproject.toml` (and its `uv.lock`,
//! when there is one) and writes the text of a `pybase.yaml` that passes
//! `pybase check`: the `# syntax=` line, `version: 1`
//! and one service named after the project, whose base image is the
//! `python:X.Y-slim` of the newest stable Python that `requires-python`
//! allows and whose command is the project's first script, else `python -m`
//! of its package with a `__main__`. What the project files
//! cannot tell (OS packages) is left empty, with comments saying what goes
//! there; packages that `uv.lock` has no Linux wheel for are named, since
//! building them is what usually needs those packages.
//!
//! [`application_spec`] writes one for an application instead (a directory
//! of code and a `requirements.txt`, without `pyproject.toml`): the
//! service is named after the directory, and its command runs the first of
//! `app.py`, `manage.py` and `main.py` there is, or is left as a comment.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::spec::{BASE_TARGET_SUFFIX, ImageName};

/// The file `pybase init` writes in the project directory.
pub const SPEC_FILE: &str = "pybase.yaml";

/// The repository that the release workflow (`.github/workflows/release.yml`,
/// running `cargo xtask release`) pushes the frontend image to, tagged `X.Y.Z`,
/// `X.Y` and `X`.
pub const RELEASED_FRONTEND_REPOSITORY: &str = "ghcr.io/pybase-dev/pybase-frontend";

/// The frontend image the `# syntax=` line names unless told otherwise
/// (`pybase init --frontend`): the released repository's tag of this pybase's
/// major version, so that a spec gets the fixes of later releases of the
/// frontend it was written for. (This repository's own fixtures name the image
/// `cargo xtask up` builds from the tree, `localhost:5000/pybase-frontend:dev`.)
pub const DEFAULT_FRONTEND_IMAGE: &str = concat!(
    "ghcr.io/pybase-dev/pybase-frontend:",
    env!("CARGO_PKG_VERSION_MAJOR")
);

/// The CPython releases a starting spec's base image may be, oldest first:
/// those with bugfix or security releases when this pybase was released
/// (PEP 619 to PEP 790: 3.9 reached its end of life in October 2025, and
/// 3.15.0 was released in October 2026).
pub const STABLE_PYTHONS: [(u32, u32); 6] = [(3, 10), (3, 11), (3, 12), (3, 13), (3, 14), (3, 15)];

/// The Python of the base image when neither `pyproject.toml` nor `uv.lock`
/// says which Pythons the project supports: the newest stable one.
pub const DEFAULT_PYTHON: (u32, u32) = STABLE_PYTHONS[STABLE_PYTHONS.len() - 1];

/// The service name when the project's name has nothing usable in it.
const FALLBACK_SERVICE_NAME: &str = "app";

/// Why no starting spec could be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// `pyproject.toml` is not TOML.
    #[error("{file} is not valid TOML: {message}")]
    NotToml {
        /// The file, as the user names it.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// `pyproject.toml` has no `[project]` table with a string `name`.
    #[error(
        "{file} has no `[project]` table with a `name`: pybase builds PEP 621 projects (`uv init` makes one)"
    )]
    NoProjectName {
        /// The file, as the user names it.
        file: String,
    },
    /// The `--frontend` image is not an image reference.
    #[error("the frontend image `{image}` is not an image reference: {reason}")]
    BadFrontendImage {
        /// As given.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The project files `pybase init` reads, with the names errors give them.
#[derive(Clone, Copy, Debug)]
pub struct ProjectFiles<'a> {
    /// `pyproject.toml`'s name, e.g. `app/pyproject.toml`.
    pub pyproject_file: &'a str,
    /// Its text.
    pub pyproject: &'a str,
    /// `uv.lock`'s text, when the project has one.
    pub lock: Option<&'a str>,
    /// The packages with a `__main__.py` (top-level or under `src/`), by
    /// their import name: `python -m` runs one when there is no script.
    pub main_packages: &'a [String],
}

/// A starting spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Starter {
    /// The name of its one service.
    pub service: String,
    /// The spec's text.
    pub text: String,
}

/// `[project]`, as far as `pybase init` reads it.
#[derive(Deserialize)]
struct PyprojectWire {
    project: Option<ProjectWire>,
}

#[derive(Deserialize)]
struct ProjectWire {
    name: Option<toml::Value>,
    #[serde(rename = "requires-python")]
    requires_python: Option<toml::Value>,
    #[serde(default)]
    scripts: BTreeMap<toml::Spanned<String>, toml::Value>,
}

/// `uv.lock`, as far as `pybase init` reads it.
#[derive(Deserialize)]
struct LockWire {
    #[serde(rename = "requires-python")]
    requires_python: Option<toml::Value>,
    #[serde(default)]
    package: Vec<toml::Value>,
}

/// The starting spec for the project in `files`, whose `# syntax=` line
/// names `frontend_image`.
pub fn starter_spec(files: &ProjectFiles<'_>, frontend_image: &str) -> Result<Starter, InitError> {
    ImageName::parse(frontend_image).map_err(|reason| InitError::BadFrontendImage {
        image: frontend_image.to_owned(),
        reason,
    })?;
    let pyproject: PyprojectWire =
        toml::from_str(files.pyproject).map_err(|e| InitError::NotToml {
            file: files.pyproject_file.to_owned(),
            message: e.message().trim_end().to_owned(),
        })?;
    let project = pyproject.project;
    let name = project
        .as_ref()
        .and_then(|p| p.name.as_ref())
        .and_then(toml::Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| InitError::NoProjectName {
            file: files.pyproject_file.to_owned(),
        })?;
    // A lock that does not read is left to `pybase check` to report.
    let lock: Option<LockWire> = files.lock.and_then(|text| toml::from_str(text).ok());

    let requires_python = project
        .as_ref()
        .and_then(|p| p.requires_python.as_ref())
        .or_else(|| lock.as_ref().and_then(|l| l.requires_python.as_ref()))
        .and_then(toml::Value::as_str);
    let python = requires_python.and_then(python_for);
    let script = project.as_ref().and_then(|p| {
        p.scripts
            .keys()
            .min_by_key(|key| key.span().start)
            .map(|key| key.get_ref().clone())
    });
    let built_from_source = lock
        .as_ref()
        .map(|l| packages_without_linux_wheels(&l.package))
        .unwrap_or_default();

    let service = service_name(name);
    // With no script, the package of the project's name that has a
    // `__main__`, else the first that has one.
    let wanted = crate::names::normalize_name(name).replace('-', "_");
    let main_package = files
        .main_packages
        .iter()
        .find(|package| package.to_lowercase() == wanted)
        .or_else(|| files.main_packages.first());
    let command = match (script.as_deref(), main_package) {
        (Some(script), _) => format!(
            "    command: [{}]    # the first of [project.scripts]\n",
            yaml_string(script)
        ),
        (None, Some(package)) => format!(
            "    command: [python, -m, {}]    # its __main__ ([project.scripts] has none)\n",
            yaml_string(package)
        ),
        (None, None) => "    # command: [python, -m, your_package]   # the image's command ([project.scripts] has none)\n".to_owned(),
    };
    let text = render(&Rendered {
        frontend_image,
        service: &service,
        python,
        python_note: if python.is_some() {
            "the newest stable Python requires-python allows"
        } else {
            "requires-python is not set: the newest stable Python"
        },
        project_note: "",
        command: &command,
        built_from_source: &built_from_source,
    });
    Ok(Starter { service, text })
}

/// The scripts an application's command may run, in the order `pybase
/// init` prefers them.
pub const APPLICATION_SCRIPTS: [&str; 3] = ["app.py", "manage.py", "main.py"];

/// An application (code and a lock of pins, no `pyproject.toml`), as
/// `pybase init` sees it.
#[derive(Clone, Copy, Debug)]
pub struct Application<'a> {
    /// The directory's name, which names the service.
    pub dir_name: &'a str,
    /// Which of [`APPLICATION_SCRIPTS`] it has.
    pub scripts: &'a [&'a str],
    /// Its lock's text (`requirements.txt` or `pylock.toml`), when it reads.
    pub lock: Option<&'a str>,
    /// The text of each of its scripts, by name, when it reads.
    pub script_texts: &'a [(&'a str, String)],
}

/// The servers a web application's command may run, with the command
/// that serves `MODULE:app` on port 8000 of every interface.
const SERVERS: [(&str, &str); 2] = [
    (
        "gunicorn",
        "[gunicorn, \"MODULE:app\", --bind, \"0.0.0.0:8000\"]    # the WSGI app `app` of MODULE.py, served by gunicorn from the lock",
    ),
    (
        "uvicorn",
        "[uvicorn, \"MODULE:app\", --host, 0.0.0.0, --port, \"8000\"]    # the ASGI app `app` of MODULE.py, served by uvicorn from the lock",
    ),
];

/// The command that serves `app`'s web application: when its lock pins a
/// server of [`SERVERS`] and one of its scripts defines `app` at its top
/// level (`app = Flask(__name__)`, `app = FastAPI()`), that server on it.
fn web_command(app: &Application<'_>) -> Option<String> {
    let lock = app.lock?;
    let pinned = |server: &str| {
        lock.lines().any(|line| {
            let line = line.trim_start().to_ascii_lowercase();
            line.strip_prefix(server)
                .is_some_and(|rest| rest.trim_start().starts_with("==") || rest.starts_with('['))
                || line == format!("name = \"{server}\"")
        })
    };
    let (_, command) = SERVERS.iter().find(|(server, _)| pinned(server))?;
    let (script, _) = app.script_texts.iter().find(|(_, text)| {
        text.lines()
            .any(|line| line.starts_with("app =") || line.starts_with("app="))
    })?;
    let module = script.strip_suffix(".py")?;
    Some(format!(
        "    command: {}\n",
        command.replace("MODULE", module)
    ))
}

/// The starting spec for the application `app`, whose `# syntax=` line
/// names `frontend_image`: the image's command runs its first script of
/// [`APPLICATION_SCRIPTS`] (Django's `manage.py` with its server), or is a
/// comment to fill in.
pub fn application_spec(app: &Application<'_>, frontend_image: &str) -> Result<Starter, InitError> {
    ImageName::parse(frontend_image).map_err(|reason| InitError::BadFrontendImage {
        image: frontend_image.to_owned(),
        reason,
    })?;
    let script = APPLICATION_SCRIPTS
        .iter()
        .find(|script| app.scripts.contains(script));
    let command = match (web_command(app), script) {
        (Some(web), _) => web,
        (None, Some(&"manage.py")) => "    command: [python, manage.py, runserver, \"0.0.0.0:8000\"]    # Django's development server; for production, e.g. [gunicorn, yoursite.wsgi, --bind, \"0.0.0.0:8000\"]\n".to_owned(),
        (None, Some(script)) => format!("    command: [python, {script}]    # run in the image's workdir, /app\n"),
        (None, None) => "    # command: [python, your_script.py]   # the image's command: there is no app.py, manage.py or main.py\n".to_owned(),
    };
    let service = service_name(app.dir_name);
    let text = render(&Rendered {
        frontend_image,
        service: &service,
        python: None,
        python_note: "no pyproject.toml says which Python: the newest stable one",
        project_note: "    # an application: its code, copied into /app, and requirements.txt",
        command: &command,
        built_from_source: &[],
    });
    Ok(Starter { service, text })
}

/// What goes into the text of the spec.
struct Rendered<'a> {
    frontend_image: &'a str,
    service: &'a str,
    python: Option<(u32, u32)>,
    /// The comment on the base image's line.
    python_note: &'a str,
    /// The comment on `project`'s line, with its spaces (or nothing).
    project_note: &'a str,
    /// The line of `command`, or a comment in its place.
    command: &'a str,
    built_from_source: &'a [String],
}

fn render(spec: &Rendered<'_>) -> String {
    let (major, minor) = spec.python.unwrap_or(DEFAULT_PYTHON);
    let mut out = format!(
        "# syntax={frontend}\n\
         # Written by `pybase init`; the keys are described in pybase's specs/reference.md.\n\
         version: 1\n\
         services:\n\
         \x20 {service}:\n\
         \x20   from: python:{major}.{minor}-slim    # {python_note}\n\
         \x20   project: .{project_note}\n\
         \x20   system:\n\
         \x20     runtime: []   # OS packages the image needs at run time, e.g. libpq5\n\
         \x20     build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev\n",
        frontend = spec.frontend_image,
        service = spec.service,
        python_note = spec.python_note,
        project_note = spec.project_note,
    );
    if !spec.built_from_source.is_empty() {
        out.push_str(&format!(
            "    # uv.lock has no Linux wheel for {}: it is built from source, which may\n\
             \x20   # need a compiler and headers in `build` and their libraries in `runtime`.\n",
            spec.built_from_source.join(", ")
        ));
    }
    out.push_str(spec.command);
    out
}

/// A project name as a service name: lowercase, runs of other characters
/// as one `-`, starting and ending with a letter or digit, never ending in
/// the reserved `-base`.
pub fn service_name(project: &str) -> String {
    let mut name = String::new();
    for c in project.chars() {
        let c = c.to_ascii_lowercase();
        let kept = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || (matches!(c, '.' | '_') && !name.is_empty());
        if kept {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name: String = name.chars().take(100).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    if name.is_empty() {
        return FALLBACK_SERVICE_NAME.to_owned();
    }
    if name.ends_with(BASE_TARGET_SUFFIX) {
        name.push_str("-service");
    }
    name
}

/// The Python of the base image for a project whose `requires-python` is
/// `requires_python`: the newest of [`STABLE_PYTHONS`] it allows (any of its
/// releases), else the lowest it allows ([`lowest_python`], a Python newer
/// than those); `None` when it does not read as PEP 440 or names none.
pub fn python_for(requires_python: &str) -> Option<(u32, u32)> {
    let specifiers: pep440_rs::VersionSpecifiers = requires_python.trim().parse().ok()?;
    let allows = |(major, minor): (u32, u32)| {
        [0, 99].iter().any(|micro| {
            format!("{major}.{minor}.{micro}")
                .parse::<pep440_rs::Version>()
                .is_ok_and(|version| specifiers.contains(&version))
        })
    };
    STABLE_PYTHONS
        .iter()
        .rev()
        .copied()
        .find(|python| allows(*python))
        .or_else(|| lowest_python(requires_python))
}

/// The lowest `(major, minor)` a PEP 440 `requires-python` allows, when it
/// has a lower bound (`>=3.11`, `~=3.11`, `==3.11.*`, `>3.10`), Python 3 only.
pub fn lowest_python(requires_python: &str) -> Option<(u32, u32)> {
    requires_python
        .split(',')
        .filter_map(|clause| {
            let clause = clause.trim();
            let version = ["===", "==", "~=", ">="]
                .iter()
                .find_map(|op| clause.strip_prefix(op))
                .or_else(|| clause.strip_prefix('>').filter(|v| !v.starts_with('=')))?;
            let mut parts = version.trim().split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.trim_end_matches(".*").parse().ok()?;
            (major == 3).then_some((major, minor))
        })
        .max()
}

/// Locked packages (not the project's own) that have no wheel for Linux:
/// uv builds them from their source distribution.
fn packages_without_linux_wheels(packages: &[toml::Value]) -> Vec<String> {
    let linux_wheel = |url: &str| {
        let file = url.rsplit('/').next().unwrap_or(url);
        file.ends_with("-none-any.whl") || file.contains("linux")
    };
    packages
        .iter()
        .filter(|package| {
            let from_registry = package
                .get("source")
                .and_then(|s| s.get("registry"))
                .is_some();
            let has_linux_wheel = package
                .get("wheels")
                .and_then(toml::Value::as_array)
                .is_some_and(|wheels| {
                    wheels
                        .iter()
                        .filter_map(|w| w.get("url").and_then(toml::Value::as_str))
                        .any(linux_wheel)
                });
            from_registry && !has_linux_wheel
        })
        .filter_map(|package| package.get("name")?.as_str().map(str::to_owned))
        .collect()
}

/// `text` as a YAML flow scalar: plain when that reads back as the same
/// string, else double-quoted (JSON's quoting is YAML's).
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(pyproject: &str, lock: Option<&str>) -> Result<Starter, InitError> {
        starter_spec(
            &ProjectFiles {
                pyproject_file: "pyproject.toml",
                pyproject,
                lock,
                main_packages: &[],
            },
            DEFAULT_FRONTEND_IMAGE,
        )
    }

    #[test]
    fn the_default_frontend_is_the_released_repositorys_tag_of_this_major_version() {
        let major = env!("CARGO_PKG_VERSION")
            .split('.')
            .next()
            .expect("a major version");
        assert_eq!(
            DEFAULT_FRONTEND_IMAGE,
            format!("{RELEASED_FRONTEND_REPOSITORY}:{major}")
        );
        // The twin: another image is written as given.
        let spec = starter_spec(
            &ProjectFiles {
                pyproject_file: "pyproject.toml",
                pyproject: "[project]\nname = \"x\"\n",
                lock: None,
                main_packages: &[],
            },
            "localhost:5000/pybase-frontend:dev",
        )
        .expect("a spec");
        assert!(
            spec.text
                .starts_with("# syntax=localhost:5000/pybase-frontend:dev\n"),
            "{}",
            spec.text
        );
    }

    #[test]
    fn the_base_image_is_the_newest_stable_python_allowed() {
        for (requires, python) in [
            (">=3.11", Some((3, 15))),
            (">=3.9, <3.13", Some((3, 12))),
            ("~=3.11.4", Some((3, 11))),
            ("==3.12.*", Some((3, 12))),
            ("<3.13", Some((3, 12))),
            (">=3.16", Some((3, 16))),
            ("garbage", None),
        ] {
            assert_eq!(python_for(requires), python, "{requires}");
        }
    }

    #[test]
    fn the_lowest_python_allowed_is_read_from_lower_bounds() {
        for (requires, lowest) in [
            (">=3.11", Some((3, 11))),
            (">=3.9, <4, >=3.10.2", Some((3, 10))),
            ("~=3.13", Some((3, 13))),
            ("==3.12.*", Some((3, 12))),
            (">3.10", Some((3, 10))),
            ("<3.13", None),
            (">=3", None),
            (">=2.7", None),
            ("garbage", None),
        ] {
            assert_eq!(lowest_python(requires), lowest, "{requires}");
        }
    }

    #[test]
    fn project_names_become_valid_service_names() {
        for (project, service) in [
            ("inventory", "inventory"),
            ("My_Project.Name", "my_project.name"),
            ("--Odd  name!!", "odd-name"),
            ("data-base", "data-base-service"),
            ("日本", "app"),
        ] {
            assert_eq!(service_name(project), service, "{project}");
        }
        assert_eq!(service_name(&"x".repeat(300)).len(), 100);
    }

    #[test]
    fn a_project_without_scripts_or_python_bounds_gets_defaults_and_hints() {
        let spec = starter("[project]\nname = \"Web API\"\n", None).expect("a spec");
        assert_eq!(spec.service, "web-api");
        insta::assert_snapshot!(spec.text, @r"
        # syntax=ghcr.io/pybase-dev/pybase-frontend:0
        # Written by `pybase init`; the keys are described in pybase's specs/reference.md.
        version: 1
        services:
          web-api:
            from: python:3.15-slim    # requires-python is not set: the newest stable Python
            project: .
            system:
              runtime: []   # OS packages the image needs at run time, e.g. libpq5
              build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev
            # command: [python, -m, your_package]   # the image's command ([project.scripts] has none)
        ");
        crate::spec::parse("pybase.yaml", spec.text.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn the_first_script_in_the_file_is_the_command_and_the_lock_names_sdists() {
        let pyproject = "[project]\nname = \"api\"\n[project.scripts]\nzz-serve = \"api:main\"\naa-admin = \"api:admin\"\n";
        let lock = r#"
version = 1
requires-python = ">=3.12, <3.14"
[[package]]
name = "api"
source = { editable = "." }
[[package]]
name = "psycopg2"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/psycopg2-2.9.10-cp312-cp312-win_amd64.whl" }]
[[package]]
name = "six"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/six-1.17.0-py2.py3-none-any.whl" }]
"#;
        let spec = starter(pyproject, Some(lock)).expect("a spec");
        assert!(
            spec.text.contains("from: python:3.13-slim"),
            "{}",
            spec.text
        );
        assert!(spec.text.contains("command: [zz-serve]"), "{}", spec.text);
        assert!(
            spec.text
                .contains("# uv.lock has no Linux wheel for psycopg2:"),
            "{}",
            spec.text
        );
        crate::spec::parse("pybase.yaml", spec.text.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn an_application_runs_its_first_script_of_app_manage_main() {
        let spec = |scripts: &[&str]| {
            application_spec(
                &Application {
                    dir_name: "Web",
                    scripts,
                    lock: None,
                    script_texts: &[],
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
        };
        let app = spec(&["main.py", "app.py"]);
        assert_eq!(app.service, "web");
        insta::assert_snapshot!(app.text, @r#"
        # syntax=ghcr.io/pybase-dev/pybase-frontend:0
        # Written by `pybase init`; the keys are described in pybase's specs/reference.md.
        version: 1
        services:
          web:
            from: python:3.15-slim    # no pyproject.toml says which Python: the newest stable one
            project: .    # an application: its code, copied into /app, and requirements.txt
            system:
              runtime: []   # OS packages the image needs at run time, e.g. libpq5
              build: []     # OS packages only for building wheels, e.g. gcc, libpq-dev
            command: [python, app.py]    # run in the image's workdir, /app
        "#);
        crate::spec::parse("pybase.yaml", app.text.as_bytes()).expect("a valid spec");
        let django = spec(&["main.py", "manage.py"]).text;
        assert!(
            django.contains("    command: [python, manage.py, runserver, \"0.0.0.0:8000\"]"),
            "{django}"
        );
        crate::spec::parse("pybase.yaml", django.as_bytes()).expect("a valid spec");
        assert!(
            spec(&["main.py"])
                .text
                .contains("    command: [python, main.py]")
        );
        let none = spec(&[]).text;
        assert!(
            none.contains("    # command: [python, your_script.py]"),
            "{none}"
        );
        crate::spec::parse("pybase.yaml", none.as_bytes()).expect("a valid spec");
    }

    #[test]
    fn odd_script_names_are_quoted() {
        for (text, yaml) in [
            ("serve", "serve"),
            ("yes", "\"yes\""),
            ("a: b", "\"a: b\""),
            ("1st", "\"1st\""),
        ] {
            assert_eq!(yaml_string(text), yaml, "{text}");
        }
    }

    #[test]
    fn a_pyproject_without_a_name_or_not_toml_is_refused_naming_the_file() {
        assert_eq!(
            starter("[tool.poetry]\nname = \"x\"\n", None),
            Err(InitError::NoProjectName {
                file: "pyproject.toml".into()
            })
        );
        let error = starter("[project\n", None).expect_err("not TOML");
        assert!(
            error
                .to_string()
                .starts_with("pyproject.toml is not valid TOML"),
            "{error}"
        );
        let error = starter_spec(
            &ProjectFiles {
                pyproject_file: "pyproject.toml",
                pyproject: "[project]\nname = \"x\"\n",
                lock: None,
                main_packages: &[],
            },
            "Bad Image",
        )
        .expect_err("bad image");
        assert!(matches!(error, InitError::BadFrontendImage { .. }));
    }

    #[test]
    fn without_a_script_the_command_runs_the_package_with_a_main() {
        let spec = |main_packages: &[String]| {
            starter_spec(
                &ProjectFiles {
                    pyproject_file: "pyproject.toml",
                    pyproject: "[project]\nname = \"My-Tool\"\n",
                    lock: None,
                    main_packages,
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
            .text
        };
        let packages = ["helpers".to_owned(), "my_tool".to_owned()];
        assert!(spec(&packages).contains("    command: [python, -m, my_tool]    # its __main__"));
        assert!(spec(&packages[..1]).contains("    command: [python, -m, helpers]"));
        // The twin: nothing to run, a comment.
        assert!(spec(&[]).contains("    # command: [python, -m, your_package]"));
    }

    #[test]
    fn a_web_application_is_served_by_the_server_its_lock_pins() {
        let flask = vec![(
            "app.py",
            "from flask import Flask\napp = Flask(__name__)\n".to_owned(),
        )];
        let spec = |lock: &str, texts: &[(&str, String)]| {
            application_spec(
                &Application {
                    dir_name: "web",
                    scripts: &["app.py"],
                    lock: Some(lock),
                    script_texts: texts,
                },
                DEFAULT_FRONTEND_IMAGE,
            )
            .expect("a spec")
            .text
        };
        let gunicorn = "flask==3.1.0 --hash=sha256:00\ngunicorn==23.0.0 --hash=sha256:00\n";
        let text = spec(gunicorn, &flask);
        assert!(
            text.contains("    command: [gunicorn, \"app:app\", --bind, \"0.0.0.0:8000\"]"),
            "{text}"
        );
        crate::spec::parse("pybase.yaml", text.as_bytes()).expect("a valid spec");
        let uvicorn =
            "fastapi==0.115.0 --hash=sha256:00\nuvicorn[standard]==0.32.0 --hash=sha256:00\n";
        assert!(
            spec(uvicorn, &flask).contains("    command: [uvicorn, \"app:app\", --host, 0.0.0.0")
        );
        // The twins: no server in the lock, or no `app` defined, runs the script.
        assert!(
            spec("flask==3.1.0 --hash=sha256:00\n", &flask).contains("command: [python, app.py]")
        );
        let no_app = vec![("app.py", "print('hello')\n".to_owned())];
        assert!(spec(gunicorn, &no_app).contains("command: [python, app.py]"));
    }
}

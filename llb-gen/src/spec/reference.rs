//! Docker image references: checked against the grammar of Docker's
//! `distribution/reference` package and normalized as its
//! `ParseNormalizedNamed` does (`python:3.12-slim` is
//! `docker.io/library/python:3.12-slim`).
//!
//! pybase parsed them with oci-spec until its reference regex proved to
//! cost about 30 ms to compile, in every run of the frontend (its tag
//! pattern, `[\w][\w.-]{0,127}`, expands Unicode's word class 128 times):
//! most of the frontend's own time on a build with nothing to do. This is
//! the same grammar without a regex; a test checks it against oci-spec on
//! a grid of references. Where the two differ, this follows Docker: a tag
//! is ASCII, and a first component without `.`, `:` or `localhost` is part
//! of the repository, so it must be lowercase.

use std::fmt;

/// The registry a reference without one names.
const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's former name, normalized to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The most characters a repository path may have.
const MAX_PATH_LENGTH: usize = 255;
/// The most characters a tag may have.
const MAX_TAG_LENGTH: usize = 128;

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a reference is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReferenceError {
    /// It does not follow the grammar.
    InvalidFormat,
    /// A repository component has an uppercase letter.
    Uppercase,
    /// The repository path is too long.
    PathTooLong,
    /// The digest's algorithm is not sha256, sha384 or sha512.
    DigestUnsupported,
    /// The digest's hex has the wrong length for its algorithm.
    DigestLength,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidFormat => "invalid reference format",
            Self::Uppercase => "repository name must be lowercase",
            Self::PathTooLong => "repository name must not be more than 255 characters",
            Self::DigestUnsupported => "unsupported digest algorithm",
            Self::DigestLength => "invalid checksum digest length",
        })
    }
}

impl Reference {
    /// The reference in full: `registry/path`, then `:tag` (`:latest`
    /// when it names neither a tag nor a digest), then `@digest`.
    pub(super) fn whole(&self) -> String {
        let mut whole = format!("{}/{}", self.domain, self.path);
        match (&self.tag, &self.digest) {
            (Some(tag), _) => {
                whole.push(':');
                whole.push_str(tag);
            }
            (None, None) => whole.push_str(":latest"),
            (None, Some(_)) => {}
        }
        if let Some(digest) = &self.digest {
            whole.push('@');
            whole.push_str(digest);
        }
        whole
    }
}

/// Parse `text`: `[registry/]path[:tag][@digest]`.
pub(super) fn parse(text: &str) -> Result<Reference, ReferenceError> {
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
        None => (text, None),
    };
    // A tag follows the last `:` that no `/` follows (a registry's port
    // does).
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(check_tag(tag)?)),
        _ => (rest, None),
    };
    let components: Vec<&str> = name.split('/').collect();
    let (domain, path) = match components.as_slice() {
        [first, rest @ ..] if !rest.is_empty() && is_registry(first) => (*first, rest),
        all => (DOCKER_HUB, all),
    };
    for component in path {
        if !is_path_component(component) {
            return Err(if is_path_component(&component.to_ascii_lowercase()) {
                ReferenceError::Uppercase
            } else {
                ReferenceError::InvalidFormat
            });
        }
    }
    let domain = if domain == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        domain
    };
    let mut path = path.join("/");
    if domain == DOCKER_HUB && !path.contains('/') {
        path = format!("library/{path}");
    }
    if path.len() > MAX_PATH_LENGTH {
        return Err(ReferenceError::PathTooLong);
    }
    Ok(Reference {
        domain: domain.to_owned(),
        path,
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// `digest` when it is `algorithm:hex`, with sha256's, sha384's or
/// sha512's length of hex.
fn check_digest(digest: &str) -> Result<&str, ReferenceError> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or(ReferenceError::InvalidFormat)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['-', '_', '+', '.']).all(|part| {
            part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReferenceError::InvalidFormat);
    }
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ReferenceError::DigestUnsupported),
    };
    if hex.len() == expected {
        Ok(digest)
    } else {
        Err(ReferenceError::DigestLength)
    }
}

/// `tag` when it is one: a letter, digit or `_`, then up to 127 of those,
/// `.` and `-`.
fn check_tag(tag: &str) -> Result<&str, ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= MAX_TAG_LENGTH
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(tag)
    } else {
        Err(ReferenceError::InvalidFormat)
    }
}

/// Whether `component`, the first of several, names a registry: a host
/// (`.`-separated labels of letters, digits and inner `-`) with an
/// optional `:port`, that has a `.` or a port or is `localhost`.
fn is_registry(component: &str) -> bool {
    let (host, port) = match component.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (component, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host.split('.').all(label_ok)
        && port_ok
        && (host.contains('.') || port.is_some() || host == "localhost")
}

/// Whether `component` is a repository path component: runs of lowercase
/// letters and digits, each two joined by one `.`, one or two `_`, or any
/// number of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut at = 0;
    loop {
        let run = bytes[at..].iter().take_while(|b| alnum(**b)).count();
        if run == 0 {
            return false;
        }
        at += run;
        let Some(&separator) = bytes.get(at) else {
            return true;
        };
        let length = match separator {
            b'.' => 1,
            b'_' if bytes.get(at + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[at..].iter().take_while(|b| **b == b'-').count(),
            _ => return false,
        };
        at += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_as_docker_normalizes_them() {
        for (written, whole) in [
            ("python", "docker.io/library/python:latest"),
            ("python:3.12-slim", "docker.io/library/python:3.12-slim"),
            ("team/app:1", "docker.io/team/app:1"),
            ("index.docker.io/team/app", "docker.io/team/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b/c:v1.0", "localhost:5000/a/b/c:v1.0"),
            ("ghcr.io/org/base-python", "ghcr.io/org/base-python:latest"),
            (
                "Registry.Example:443/x__y/z--w.v:_T",
                "Registry.Example:443/x__y/z--w.v:_T",
            ),
            // A port-like tag on a name without a registry.
            ("example.com:5000", "docker.io/library/example.com:5000"),
        ] {
            assert_eq!(
                parse(written).map(|r| r.whole()),
                Ok(whole.to_owned()),
                "{written}"
            );
        }
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parse(&format!("python@{digest}")).map(|r| r.whole()),
            Ok(format!("docker.io/library/python@{digest}"))
        );
        assert_eq!(
            parse(&format!("python:3@{digest}")).map(|r| r.whole()),
            Ok(format!("docker.io/library/python:3@{digest}"))
        );
    }

    #[test]
    fn what_the_grammar_refuses_is_refused_with_its_reason() {
        use ReferenceError::*;
        for (written, error) in [
            ("", InvalidFormat),
            ("Python", Uppercase),
            ("Team/app", Uppercase),
            ("team//app", InvalidFormat),
            ("app:", InvalidFormat),
            ("app:-x", InvalidFormat),
            ("app:é", InvalidFormat),
            ("a..b", InvalidFormat),
            ("a___b", InvalidFormat),
            ("-a", InvalidFormat),
            ("a-", InvalidFormat),
            ("-host.io/a", InvalidFormat),
            ("host.io:port/a", InvalidFormat),
            ("app@sha256:abc", InvalidFormat),
            (
                "app@md5:0123456789abcdef0123456789abcdef",
                DigestUnsupported,
            ),
            ("app@sha256:0123456789abcdef0123456789abcdef", DigestLength),
        ] {
            assert_eq!(parse(written), Err(error), "{written}");
        }
        assert_eq!(
            parse(&format!("app:{}", "t".repeat(129))),
            Err(InvalidFormat)
        );
        assert!(parse(&format!("app:{}", "t".repeat(128))).is_ok());
        assert_eq!(parse(&"a".repeat(249)), Err(PathTooLong));
        assert!(parse(&"a".repeat(247)).is_ok());
    }

    /// oci-spec's parser (which pybase used before) on a grid of
    /// references built from pieces: the same acceptance and the same
    /// normalized form, but where Docker's grammar is stricter (an
    /// uppercase first component without a registry's marks).
    #[test]
    fn the_parser_agrees_with_oci_spec_on_a_grid_of_references() {
        let domains = [
            "",
            "docker.io/",
            "index.docker.io/",
            "localhost/",
            "localhost:5000/",
            "my-registry.example.com:443/",
            "a.b/",
            "A.B/",
            "-bad.io/",
            "bad-.io/",
            "x:y/",
            "127.0.0.1:5000/",
        ];
        let paths = [
            "python", "team/app", "a/b/c", "a.b", "a_b", "a__b", "a___b", "a--b", "a..b", "a.-b",
            "_a", "a_", "Team/app", "app/Sub", "9", "a/", "/a", "a//b",
        ];
        let tags = [
            "",
            ":3.12-slim",
            ":latest",
            ":_x",
            ":.x",
            ":-x",
            ":",
            ":a/b",
        ];
        let digests = [
            String::new(),
            format!("@sha256:{}", "0".repeat(64)),
            format!("@sha512:{}", "f".repeat(128)),
            format!("@sha256:{}", "0".repeat(40)),
            format!("@md5:{}", "0".repeat(32)),
            "@sha256:xyz".to_owned(),
        ];
        let mut compared = 0;
        for domain in domains {
            for path in paths {
                for tag in tags {
                    for digest in &digests {
                        let text = format!("{domain}{path}{tag}{digest}");
                        let theirs = text
                            .parse::<oci_spec::distribution::Reference>()
                            .map(|r| r.whole());
                        let ours = parse(&text).map(|r| r.whole());
                        // Docker's own stricter rule: uppercase in a
                        // repository component.
                        let stricter = ours == Err(ReferenceError::Uppercase);
                        if stricter {
                            continue;
                        }
                        assert_eq!(ours.ok(), theirs.ok(), "{text}");
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 5000, "{compared}");
    }
}

//! `--build-arg` values in the spec: `${NAME}` references.
//!
//! Any string value of the spec (not a map key, not a tier or service
//! name, not a `tier:` reference) may refer to a build arg:
//!
//! - `${NAME}`: the value of `--build-arg NAME=…`; an arg the build does
//!   not define is an error at the value, never an empty string;
//! - `${NAME:-default}`: the value, or `default` when the arg is undefined
//!   or empty (the default is taken as written);
//! - `$$`: a literal `$`, so `$${HOME}` reaches a shell command as
//!   `${HOME}`.
//!
//! A `$` followed by anything else is kept as it is: `$HOME` in a shell
//! health check is the container's, not the build's. The substitution runs
//! on the raw spec, before validation, so a substituted value is checked
//! like a written one (an image reference, a path, a version).

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Spanned;

use super::raw::{
    CommandLine, RawHealthcheck, RawService, RawSpec, RawSystem, RawTier, RawUser, pos,
};
use crate::diagnostic::Diagnostic;

/// The build's `--build-arg` values, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
}

impl BuildArgs {
    /// The value of the arg `name`, when the build defines it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for BuildArgs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            values: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// What is wrong with one reference in a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// `${NAME}` without a value and without a default.
    #[error("`${{{0}}}` refers to the build arg `{0}`, which this build does not define")]
    Undefined(String),
    /// `${` without its `}`.
    #[error("`${{` is not closed with `}}`")]
    Unclosed,
    /// `${…}` holding something other than `NAME` or `NAME:-default`.
    #[error("`${{{0}}}` is not a build-arg reference")]
    Malformed(String),
}

impl ReferenceError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            ReferenceError::Undefined(name) => format!(
                "pass `--build-arg {name}=…`, give a default with `${{{name}:-value}}`, or write `$${{{name}}}` for a literal `${{{name}}}`"
            ),
            ReferenceError::Unclosed | ReferenceError::Malformed(_) => "write `${NAME}` or `${NAME:-default}` (NAME: letters, digits and `_`), or `$$` for a literal `$`".to_owned(),
        }
    }
}

/// `text` with its references replaced by `args`' values; the names it
/// refers to are added to `referenced`.
pub fn expand(
    text: &str,
    args: &BuildArgs,
    referenced: &mut BTreeSet<String>,
) -> Result<String, ReferenceError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}').ok_or(ReferenceError::Unclosed)?;
            let reference = &inner[..close];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if !is_arg_name(name) {
                return Err(ReferenceError::Malformed(reference.to_owned()));
            }
            referenced.insert(name.to_owned());
            match (args.get(name), default) {
                (Some(""), Some(default)) => out.push_str(default),
                (Some(value), _) => out.push_str(value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(ReferenceError::Undefined(name.to_owned())),
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_arg_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Expands every referencing value of the raw spec in place. Problems are
/// pushed to `problems`; the names referenced are returned, sorted.
pub(super) fn expand_spec(
    file: &str,
    raw: &mut RawSpec,
    args: &BuildArgs,
    problems: &mut Vec<Diagnostic>,
) -> BTreeSet<String> {
    let mut expander = Expander {
        file,
        args,
        problems,
        referenced: BTreeSet::new(),
    };
    for tier in raw.tiers.values_mut() {
        expander.tier(tier);
    }
    for service in raw.services.values_mut() {
        expander.service(service);
    }
    expander.referenced
}

struct Expander<'a> {
    file: &'a str,
    args: &'a BuildArgs,
    problems: &'a mut Vec<Diagnostic>,
    referenced: BTreeSet<String>,
}

impl Expander<'_> {
    fn value(&mut self, value: &mut Spanned<String>) {
        let at = pos(value);
        self.text(&mut value.value, at);
    }

    fn text(&mut self, text: &mut String, at: Option<crate::diagnostic::Position>) {
        if !text.contains('$') {
            return;
        }
        match expand(text, self.args, &mut self.referenced) {
            Ok(expanded) => *text = expanded,
            Err(error) => {
                let hint = error.hint();
                self.problems
                    .push(Diagnostic::at(self.file, at, error.to_string()).with_hint(hint));
            }
        }
    }

    fn option(&mut self, value: &mut Option<Spanned<String>>) {
        if let Some(value) = value {
            self.value(value);
        }
    }

    fn list(&mut self, values: &mut [Spanned<String>]) {
        for value in values {
            self.value(value);
        }
    }

    fn map<K>(&mut self, map: &mut BTreeMap<K, Spanned<String>>) {
        for value in map.values_mut() {
            self.value(value);
        }
    }

    fn system(&mut self, system: &mut RawSystem) {
        self.list(&mut system.runtime);
        self.list(&mut system.build);
    }

    fn user(&mut self, user: &mut Option<RawUser>) {
        if let Some(user) = user {
            self.option(&mut user.name);
        }
    }

    fn argv(&mut self, argv: &mut Option<Spanned<Vec<String>>>) {
        if let Some(argv) = argv {
            let at = pos(argv);
            for arg in &mut argv.value {
                self.text(arg, at);
            }
        }
    }

    fn healthcheck(&mut self, check: &mut Option<RawHealthcheck>) {
        let Some(check) = check else { return };
        let at = pos(&check.test);
        match &mut check.test.value {
            CommandLine::Shell(line) => self.text(line, at),
            CommandLine::Argv(argv) => {
                for arg in argv {
                    self.text(arg, at);
                }
            }
        }
        self.option(&mut check.interval);
        self.option(&mut check.timeout);
        self.option(&mut check.start_period);
    }

    fn tier(&mut self, tier: &mut RawTier) {
        self.value(&mut tier.from);
        self.option(&mut tier.project);
        self.list(&mut tier.extras);
        self.list(&mut tier.groups);
        self.system(&mut tier.system);
        self.map(&mut tier.env);
        self.user(&mut tier.user);
    }

    fn service(&mut self, service: &mut RawService) {
        self.option(&mut service.from);
        self.option(&mut service.project);
        self.option(&mut service.version);
        self.list(&mut service.extras);
        self.list(&mut service.groups);
        self.system(&mut service.system);
        self.user(&mut service.user);
        self.argv(&mut service.command);
        self.argv(&mut service.entrypoint);
        self.map(&mut service.env);
        self.option(&mut service.workdir);
        self.list(&mut service.ports);
        self.healthcheck(&mut service.healthcheck);
        self.option(&mut service.stop_signal);
        self.map(&mut service.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(text: &str) -> Result<String, ReferenceError> {
        let args: BuildArgs = [("VERSION", "1.4.2"), ("EMPTY", "")].into_iter().collect();
        expand(text, &args, &mut BTreeSet::new())
    }

    #[test]
    fn references_are_replaced_and_the_rest_is_kept() {
        assert_eq!(
            expanded("python:${VERSION}-slim").as_deref(),
            Ok("python:1.4.2-slim")
        );
        assert_eq!(expanded("${MISSING:-3.12}").as_deref(), Ok("3.12"));
        assert_eq!(expanded("${EMPTY:-fallback}").as_deref(), Ok("fallback"));
        assert_eq!(expanded("${EMPTY}").as_deref(), Ok(""));
        assert_eq!(expanded("$${HOME} and $$").as_deref(), Ok("${HOME} and $"));
        assert_eq!(
            expanded("curl localhost:$PORT/").as_deref(),
            Ok("curl localhost:$PORT/")
        );
        assert_eq!(expanded("cost: 5$").as_deref(), Ok("cost: 5$"));
    }

    #[test]
    fn undefined_unclosed_and_malformed_references_are_errors() {
        assert_eq!(
            expanded("v${MISSING}"),
            Err(ReferenceError::Undefined("MISSING".into()))
        );
        assert_eq!(expanded("${VERSION"), Err(ReferenceError::Unclosed));
        assert_eq!(
            expanded("${1X}"),
            Err(ReferenceError::Malformed("1X".into()))
        );
        assert_eq!(
            expanded("${VERSION:?}"),
            Err(ReferenceError::Malformed("VERSION:?".into()))
        );
    }

    #[test]
    fn the_names_referenced_are_collected_even_with_a_default() {
        let mut referenced = BTreeSet::new();
        let args = BuildArgs::default();
        let _ = expand("${A:-x} ${B:-y} $${C}", &args, &mut referenced);
        assert_eq!(referenced.into_iter().collect::<Vec<_>>(), ["A", "B"]);
    }
}

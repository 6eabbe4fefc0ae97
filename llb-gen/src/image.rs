//! The image config of a result: the base image's config, then ours.
//!
//! BuildKit's exporter writes whatever config the frontend returns, so every
//! rule of "what the image looks like when it runs" lives here: environment
//! (PATH with the venv first), working directory, non-root user, command,
//! labels and history. Unknown keys of the base config (Docker's extensions)
//! are kept as they are; only `created` is dropped, since the exporter sets it.

use serde_json::{Map, Value, json};

/// The PATH an image gets when its base sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What pybase sets on top of the base image's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Environment entries to set (replacing same-named ones), in order.
    pub env: Vec<(String, String)>,
    /// A directory to prepend to PATH.
    pub path_prefix: String,
    /// Working directory.
    pub working_dir: String,
    /// `uid:gid`.
    pub user: String,
    /// Replaces `Cmd` when set.
    pub cmd: Option<Vec<String>>,
    /// Replaces `Entrypoint` when set; without `cmd`, it also clears `Cmd`
    /// (a Dockerfile's ENTRYPOINT does the same).
    pub entrypoint: Option<Vec<String>>,
    /// Ports to expose, as `8000/tcp`.
    pub exposed_ports: Vec<String>,
    /// The `Healthcheck` object, when set.
    pub healthcheck: Option<Value>,
    /// `StopSignal`, when set.
    pub stop_signal: Option<String>,
    /// Labels to add (replacing same-named ones).
    pub labels: Vec<(String, String)>,
    /// One history entry per layer pybase adds: `(created_by, empty_layer)`.
    pub history: Vec<(String, bool)>,
}

/// The environment of the base image, as `KEY=value` entries, with PATH set
/// to the default when the base has none (`docker import` images have none).
pub fn base_env(base_config: &Value) -> Vec<String> {
    let mut env: Vec<String> = base_config
        .pointer("/config/Env")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    env
}

/// Set `key` in `env` (`KEY=value` entries), replacing an existing entry in
/// place or appending.
pub fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let prefix = format!("{key}=");
    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// The value of `key` in `env`.
pub fn get_env<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    env.iter().find_map(|e| e.strip_prefix(&prefix))
}

/// The base config with `changes` applied.
pub fn compose(base_config: &Value, changes: &ConfigChanges) -> Value {
    let mut image = match base_config {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    image.remove("created");
    image.entry("os").or_insert_with(|| json!("linux"));

    let mut env = base_env(base_config);
    let path = get_env(&env, "PATH").unwrap_or(DEFAULT_PATH).to_owned();
    let path = std::iter::once(changes.path_prefix.as_str())
        .chain(path.split(':').filter(|p| *p != changes.path_prefix))
        .collect::<Vec<_>>()
        .join(":");
    set_env(&mut env, "PATH", &path);
    for (key, value) in &changes.env {
        set_env(&mut env, key, value);
    }

    let config = image
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    if let Value::Object(config) = config {
        config.insert("Env".into(), json!(env));
        config.insert("WorkingDir".into(), json!(changes.working_dir));
        config.insert("User".into(), json!(changes.user));
        if let Some(entrypoint) = &changes.entrypoint {
            config.insert("Entrypoint".into(), json!(entrypoint));
            if changes.cmd.is_none() {
                config.remove("Cmd");
            }
        }
        if let Some(cmd) = &changes.cmd {
            config.insert("Cmd".into(), json!(cmd));
        }
        if !changes.exposed_ports.is_empty() {
            let ports = config
                .entry("ExposedPorts")
                .or_insert_with(|| Value::Object(Map::new()));
            if !ports.is_object() {
                *ports = Value::Object(Map::new());
            }
            if let Value::Object(ports) = ports {
                for port in &changes.exposed_ports {
                    ports.insert(port.clone(), json!({}));
                }
            }
        }
        if let Some(healthcheck) = &changes.healthcheck {
            config.insert("Healthcheck".into(), healthcheck.clone());
        }
        if let Some(signal) = &changes.stop_signal {
            config.insert("StopSignal".into(), json!(signal));
        }
        let labels = config
            .entry("Labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(labels) = labels {
            for (key, value) in &changes.labels {
                labels.insert(key.clone(), json!(value));
            }
        }
    }

    let history = image
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !history.is_array() {
        *history = Value::Array(Vec::new());
    }
    if let Value::Array(history) = history {
        for (created_by, empty_layer) in &changes.history {
            let mut entry = json!({ "created_by": created_by, "comment": "pybase" });
            if *empty_layer && let Value::Object(entry) = &mut entry {
                entry.insert("empty_layer".into(), json!(true));
            }
            history.push(entry);
        }
    }
    Value::Object(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> ConfigChanges {
        ConfigChanges {
            env: vec![("VIRTUAL_ENV".into(), "/opt/venv".into())],
            path_prefix: "/opt/venv/bin".into(),
            working_dir: "/app".into(),
            user: "1000:1000".into(),
            cmd: Some(vec!["inventory".into()]),
            entrypoint: None,
            exposed_ports: Vec::new(),
            healthcheck: None,
            stop_signal: None,
            labels: vec![("org.opencontainers.image.title".into(), "inventory".into())],
            history: vec![("venv".into(), false)],
        }
    }

    #[test]
    fn a_base_without_env_gets_a_path_with_the_venv_first() {
        let base = json!({"architecture": "amd64", "os": "linux", "created": "2020", "config": {"Env": null}});
        let image = compose(&base, &changes());
        assert_eq!(
            image["config"]["Env"],
            json!([
                format!("PATH=/opt/venv/bin:{DEFAULT_PATH}"),
                "VIRTUAL_ENV=/opt/venv"
            ])
        );
        assert!(image.get("created").is_none());
        assert_eq!(image["config"]["User"], json!("1000:1000"));
        assert_eq!(image["config"]["Cmd"], json!(["inventory"]));
        assert_eq!(image["history"][0]["created_by"], json!("venv"));
    }

    #[test]
    fn an_entrypoint_without_a_command_clears_the_base_command() {
        let base = json!({"config": {"Cmd": ["python3"], "ExposedPorts": {"80/tcp": {}}}});
        let mut c = changes();
        c.cmd = None;
        c.entrypoint = Some(vec!["tini".into(), "--".into()]);
        c.exposed_ports = vec!["8000/tcp".into()];
        c.stop_signal = Some("SIGINT".into());
        let image = compose(&base, &c);
        assert_eq!(image["config"]["Entrypoint"], json!(["tini", "--"]));
        assert!(image["config"].get("Cmd").is_none());
        assert_eq!(
            image["config"]["ExposedPorts"],
            json!({"80/tcp": {}, "8000/tcp": {}})
        );
        assert_eq!(image["config"]["StopSignal"], json!("SIGINT"));
    }

    #[test]
    fn base_env_and_labels_are_kept_and_overridden_by_name() {
        let base = json!({"config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "VIRTUAL_ENV=/old"],
            "Labels": {"maintainer": "x"},
            "Cmd": ["python3"]
        }});
        let mut c = changes();
        c.cmd = None;
        let image = compose(&base, &c);
        assert_eq!(
            image["config"]["Env"],
            json!([
                "PATH=/opt/venv/bin:/usr/local/bin:/usr/bin",
                "LANG=C.UTF-8",
                "VIRTUAL_ENV=/opt/venv"
            ])
        );
        assert_eq!(image["config"]["Labels"]["maintainer"], json!("x"));
        assert_eq!(image["config"]["Cmd"], json!(["python3"]));
    }
}

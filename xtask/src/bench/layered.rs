//! `cargo xtask bench`'s section on per-package venv layers (issue 19).
//!
//! The fixture `testdata/bench/layered` (service `layered`: numpy and scipy,
//! 100 MB+ installed, and 13 small pure-Python packages; service `twin`:
//! the same numpy wheel and six, from its own project and lock) is built
//! three ways, one run each, each from an empty build cache: pybase with the
//! venv in per-package layers (the spec as it is), pybase with
//! `venv-layers: 1` (today's single venv layer, written into the copy's
//! spec), and the uv-guide peer `testdata/real/Dockerfile.uv-guide` (uv's
//! guide without PostgreSQL packages). Each goes through a cold build, a
//! no-change rebuild, a code change, a lock bump of idna 3.7 -> 3.8
//! (`testdata/bench/layered-variants/idna-bump`) and a change of the base
//! image's digest with the same Python (`pybase-test/python:3.11` plus one
//! file). New bytes are the uncompressed layers an image has and the one
//! before it lacked; the images before and after the bump are pushed to the
//! loopback registry, and the compressed layer blobs the bumped manifest
//! lists and the previous one does not are what the registry receives and
//! what a node holding the previous image pulls. Then, from an empty cache,
//! `twin` alone: whether its numpy layer (the venv layer whose history entry
//! names numpy) has the digest of `layered`'s.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{
    BASE_IMAGE, CA_SECRET, LayerSizes, buildx_load, docker_save, fresh_copy, frontend_override,
    human, image_layers, overlay, prune, quiet, timed_build,
};
use crate::cmd;

/// The loopback registry's repository the bump's images are pushed to.
const REGISTRY_REPO: &str = "localhost:5000/pybase-bench-layered";
/// `BASE_IMAGE` plus one file: another digest, the same Python.
const MARKER_BASE: &str = "pybase-bench/python-marker:3.11";
/// The small pure-Python package the lock bump moves.
const BUMPED: &str = "idna";

/// How a variant builds the fixture.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Builder {
    /// pybase, with `venv-layers` set on `layered` if given.
    Pybase { venv_layers: Option<u32> },
    /// `testdata/real/Dockerfile.uv-guide`.
    Peer,
}

/// One way of building the fixture, and the name of its images and copy.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Variant {
    name: &'static str,
    builder: Builder,
}

const PER_PACKAGE: Variant = Variant {
    name: "per-package",
    builder: Builder::Pybase { venv_layers: None },
};
const VARIANTS: [Variant; 3] = [
    PER_PACKAGE,
    Variant {
        name: "single",
        builder: Builder::Pybase {
            venv_layers: Some(1),
        },
    },
    Variant {
        name: "uv-guide",
        builder: Builder::Peer,
    },
];

impl Variant {
    /// `docker buildx build` of service `target` of the fixture copy `dir`
    /// on `base`, loaded as `tag`.
    fn build(self, root: &Path, dir: &Path, target: &str, base: &str, tag: &str) -> Command {
        let mut command = buildx_load(tag);
        let slim = match self.builder {
            Builder::Pybase { .. } => {
                command
                    .arg("-f")
                    .arg(dir.join("pybase.yaml"))
                    .args(["--target", target]);
                frontend_override(&mut command);
                "python:3.12-slim"
            }
            Builder::Peer => {
                command
                    .arg("-f")
                    .arg(root.join("testdata/real/Dockerfile.uv-guide"));
                "python:3.11-slim"
            }
        };
        command
            .args(["--build-context", &format!("{slim}=docker-image://{base}")])
            .args(["--secret", CA_SECRET])
            .arg(dir);
        command
    }

    /// The fixture's copy in `dir`, with this variant's spec.
    fn prepare(self, root: &Path, dir: &Path) -> Result<()> {
        fresh_copy(&root.join("testdata/bench/layered"), dir)?;
        if let Builder::Pybase {
            venv_layers: Some(layers),
        } = self.builder
        {
            let spec = dir.join("pybase.yaml");
            let text = std::fs::read_to_string(&spec)?;
            let key = "\n  layered:\n";
            if !text.contains(key) {
                bail!("{} has no service `layered`", spec.display());
            }
            let set = format!("{key}    venv-layers: {layers}\n");
            std::fs::write(&spec, text.replace(key, &set))?;
        }
        Ok(())
    }
}

/// A step of each variant's sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Cold,
    NoChange,
    CodeChange,
    Bump,
    BaseChange,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::Cold,
        Step::NoChange,
        Step::CodeChange,
        Step::Bump,
        Step::BaseChange,
    ];

    fn label(self) -> &'static str {
        match self {
            Step::Cold => "cold build",
            Step::NoChange => "no-change rebuild",
            Step::CodeChange => "code change",
            Step::Bump => "lock bump: idna 3.7 -> 3.8 (pure Python)",
            Step::BaseChange => "base image digest change, same Python",
        }
    }

    /// Make the change this step measures in the fixture copy `dir`.
    fn apply(self, root: &Path, dir: &Path) -> Result<()> {
        match self {
            Step::Cold | Step::NoChange | Step::BaseChange => Ok(()),
            Step::CodeChange => {
                let cli = dir.join("src/layered/cli.py");
                let code = std::fs::read_to_string(&cli)?;
                if !code.contains("ready") {
                    bail!("{} has no `ready` to change", cli.display());
                }
                std::fs::write(&cli, code.replace("ready", "ready (bench)"))?;
                Ok(())
            }
            Step::Bump => overlay(&root.join("testdata/bench/layered-variants/idna-bump"), dir),
        }
    }

    fn base(self) -> &'static str {
        match self {
            Step::BaseChange => MARKER_BASE,
            _ => BASE_IMAGE,
        }
    }
}

/// One variant's figures.
#[derive(Default)]
struct Figures {
    seconds: [f64; 5],
    /// The layers each step's image has and the one before lacked: their
    /// uncompressed bytes and their count.
    new: [(u64, usize); 5],
    image_bytes: u64,
    /// The bump's new compressed layer blobs: bytes and count.
    pushed: (u64, usize),
    /// Venv layers of the bumped image still in the base-changed one, of all
    /// (pybase only).
    venv_reused: Option<(usize, usize)>,
}

/// The per-package venv section: builds, measures and returns its Markdown.
pub(super) fn run(root: &Path, work: &Path, sizes: &mut LayerSizes) -> Result<String> {
    marker_base()?;
    let mut figures = Vec::new();
    for variant in VARIANTS {
        let label = format!("bench layered: {}", variant.name);
        figures.push(cmd::step(&label, || sequence(root, work, variant, sizes))?);
    }
    let bumped_tag = tag(PER_PACKAGE, Step::Bump);
    let installed = installed_bytes(&bumped_tag, BUMPED)?;
    let twin = cmd::step("bench layered: twin", || twin(root, work))?;
    Ok(table(&figures, installed, &twin))
}

fn tag(variant: Variant, step: Step) -> String {
    let index = Step::ALL.iter().position(|s| *s == step).unwrap_or(0);
    format!("pybase-bench/layered-{}:{index}", variant.name)
}

/// Builds `MARKER_BASE`: `BASE_IMAGE` plus `/etc/bench-marker` (a
/// Dockerfile on stdin, no context).
fn marker_base() -> Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = buildx_load(MARKER_BASE)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running docker buildx for the marker base")?;
    let dockerfile = format!("FROM {BASE_IMAGE}\nRUN touch /etc/bench-marker\n");
    child
        .stdin
        .take()
        .context("the build's stdin")?
        .write_all(dockerfile.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "building {MARKER_BASE}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// One variant's steps from an empty build cache.
fn sequence(root: &Path, work: &Path, variant: Variant, sizes: &mut LayerSizes) -> Result<Figures> {
    let dir = work.join(format!("layered-{}", variant.name));
    variant.prepare(root, &dir)?;
    prune()?;
    let mut figures = Figures::default();
    let mut previous: Vec<String> = Vec::new();
    for (index, step) in Step::ALL.into_iter().enumerate() {
        step.apply(root, &dir)?;
        let tag = tag(variant, step);
        let label = format!("bench layered {} ({})", variant.name, step.label());
        let build = variant.build(root, &dir, "layered", step.base(), &tag);
        figures.seconds[index] = cmd::step(&label, || timed_build(&build))?;
        let layers = image_layers(&tag)?;
        sizes.learn(&tag, &layers)?;
        let new: Vec<&String> = layers.iter().filter(|l| !previous.contains(l)).collect();
        figures.new[index] = (new.iter().map(|l| sizes.get(l)).sum(), new.len());
        figures.image_bytes = layers.iter().map(|l| sizes.get(l)).sum();
        previous = layers;
    }
    let before = push(
        &tag(variant, Step::CodeChange),
        &format!("{}-before", variant.name),
    )?;
    let after = push(&tag(variant, Step::Bump), &format!("{}-bump", variant.name))?;
    let known: BTreeSet<&String> = before.iter().map(|(digest, _)| digest).collect();
    let new: Vec<&(String, u64)> = after.iter().filter(|(d, _)| !known.contains(d)).collect();
    figures.pushed = (new.iter().map(|(_, size)| size).sum(), new.len());
    if variant.builder != Builder::Peer {
        let bumped = venv_layers(&tag(variant, Step::Bump))?;
        let rebased: BTreeSet<String> = image_layers(&tag(variant, Step::BaseChange))?
            .into_iter()
            .collect();
        let reused = bumped.iter().filter(|(l, _)| rebased.contains(l)).count();
        figures.venv_reused = Some((reused, bumped.len()));
    }
    Ok(figures)
}

/// Pushes the local image `image` as `REGISTRY_REPO:remote_tag`; the
/// compressed layer blobs of the pushed manifest: (digest, size).
fn push(image: &str, remote_tag: &str) -> Result<Vec<(String, u64)>> {
    let remote = format!("{REGISTRY_REPO}:{remote_tag}");
    quiet(Command::new("docker").args(["tag", image, &remote]))?;
    quiet(Command::new("docker").args(["push", "--quiet", &remote]))?;
    let manifest = raw_manifest(&remote);
    // The pushed tag only named the image for the push.
    quiet(Command::new("docker").args(["image", "rm", &remote]))?;
    let mut manifest = manifest?;
    if let Some(list) = manifest["manifests"].as_array() {
        // An index (the containerd image store): its linux/amd64 image.
        let digest = list
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
            .and_then(|m| m["digest"].as_str())
            .with_context(|| format!("{remote}'s index has no linux/amd64 manifest"))?;
        manifest = raw_manifest(&format!("{REGISTRY_REPO}@{digest}"))?;
    }
    let layers = manifest["layers"]
        .as_array()
        .with_context(|| format!("{remote}'s manifest has no layers"))?;
    layers
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().context("a layer digest")?;
            let size = layer["size"].as_u64().context("a layer size")?;
            Ok((digest.to_string(), size))
        })
        .collect()
}

fn raw_manifest(reference: &str) -> Result<serde_json::Value> {
    let output = quiet(Command::new("docker").args([
        "buildx",
        "imagetools",
        "inspect",
        "--raw",
        reference,
    ]))?;
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading {reference}'s manifest"))
}

/// The venv layers of `image`: (diff ID, created_by), read from the
/// image's config in `docker save`.
fn venv_layers(image: &str) -> Result<Vec<(String, String)>> {
    let (dir, manifest) = docker_save(image)?;
    let config = manifest["Config"]
        .as_str()
        .context("no Config in manifest.json")
        .and_then(|config| Ok(std::fs::read(dir.join(config))?));
    let _ = std::fs::remove_dir_all(&dir);
    let config: serde_json::Value =
        serde_json::from_slice(&config?).context("reading the saved image's config")?;
    venv_entries(&config).with_context(|| format!("reading {image}'s config"))
}

/// The layers of an image's `config` whose history entry is a venv's
/// (`pybase: [LEVEL] venv …`): (diff ID, created_by).
fn venv_entries(config: &serde_json::Value) -> Result<Vec<(String, String)>> {
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .context("no rootfs.diff_ids")?;
    let history = config["history"].as_array().context("no history")?;
    let layered: Vec<&serde_json::Value> = history
        .iter()
        .filter(|entry| entry["empty_layer"].as_bool() != Some(true))
        .collect();
    if layered.len() != diff_ids.len() {
        bail!(
            "{} history entries with a layer for {} layers",
            layered.len(),
            diff_ids.len()
        );
    }
    let mut venv = Vec::new();
    for (entry, diff_id) in layered.into_iter().zip(diff_ids) {
        let created_by = entry["created_by"].as_str().unwrap_or_default();
        let is_venv = created_by
            .strip_prefix("pybase: [")
            .and_then(|rest| rest.split_once("] "))
            .is_some_and(|(_, rest)| rest.starts_with("venv "));
        if is_venv {
            let diff_id = diff_id.as_str().context("a diff ID that is no string")?;
            venv.push((diff_id.to_string(), created_by.to_string()));
        }
    }
    Ok(venv)
}

/// The installed bytes of distribution `name` in `image`: the files its
/// RECORD lists, and the bytecode of its `.py` files.
fn installed_bytes(image: &str, name: &str) -> Result<u64> {
    let script = "import importlib.metadata as m, pathlib, sys\n\
        files = {pathlib.Path(f.locate()).resolve() for f in m.distribution(sys.argv[1]).files}\n\
        pyc = {c for p in files if p.suffix == '.py' for c in (p.parent / '__pycache__').glob(p.stem + '.*.pyc')}\n\
        print(sum(p.stat().st_size for p in files | pyc if p.is_file()))";
    let output = quiet(Command::new("docker").args([
        "run",
        "--rm",
        "--entrypoint",
        "python",
        image,
        "-c",
        script,
        name,
    ]))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .with_context(|| format!("reading {name}'s installed size in {image}"))
}

/// The twin row: `layered`'s numpy layer, and `twin`'s built alone.
struct Twin {
    layered: String,
    twin: String,
    bytes: u64,
    seconds: f64,
}

/// Builds `twin` from an empty build cache and finds both numpy layers.
fn twin(root: &Path, work: &Path) -> Result<Twin> {
    let layered = numpy_layer(&tag(PER_PACKAGE, Step::Cold))?;
    let dir = work.join("layered-twin");
    PER_PACKAGE.prepare(root, &dir)?;
    prune()?;
    let tag = "pybase-bench/layered-twin:0";
    let build = PER_PACKAGE.build(root, &dir, "twin", BASE_IMAGE, tag);
    let seconds = timed_build(&build)?;
    let twin = numpy_layer(tag)?;
    let mut sizes = LayerSizes::default();
    sizes.learn(tag, &image_layers(tag)?)?;
    Ok(Twin {
        bytes: sizes.get(&twin),
        layered,
        twin,
        seconds,
    })
}

/// The diff ID of the venv layer of `image` whose history entry names numpy.
fn numpy_layer(image: &str) -> Result<String> {
    let venv = venv_layers(image)?;
    let found: Vec<&(String, String)> = venv.iter().filter(|(_, by)| names_numpy(by)).collect();
    match found.as_slice() {
        [(diff_id, _)] => Ok(diff_id.clone()),
        _ => bail!(
            "{image}: expected one venv layer naming numpy, found {} among its venv layers: {:?}",
            found.len(),
            venv.iter().map(|(_, by)| by).collect::<Vec<_>>()
        ),
    }
}

/// Whether a venv layer's history entry (`…: numpy 2.2.6`, or a group's
/// `…: group 1 of 2: attrs 26.1.0, numpy 2.2.6`) names numpy.
fn names_numpy(created_by: &str) -> bool {
    let (_, what) = created_by.split_once(" from ").unwrap_or_default();
    what.split([' ', ',', ':']).any(|word| word == "numpy")
}

/// `a` over `b`, as `1.23x`, or `-` without a `b`.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

/// The section's Markdown.
fn table(figures: &[Figures], installed: u64, twin: &Twin) -> String {
    let [per, single, peer] = [&figures[0], &figures[1], &figures[2]];
    let mut out = String::from(
        "## Per-package venv layers (issue 19): numpy + scipy and 13 small pure-Python packages, one run, empty build cache at each variant's start\n\n\
         | row | pybase per-package | pybase `venv-layers: 1` | uv-guide peer | per-package / single | per-package / peer | target |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    let mut row =
        |label: String, values: [f64; 3], show: &dyn Fn(f64) -> String, target: String| {
            out.push_str(&format!(
                "| {label} | {} | {} | {} | {} | {} | {target} |\n",
                show(values[0]),
                show(values[1]),
                show(values[2]),
                ratio(values[0], values[1]),
                ratio(values[0], values[2]),
            ));
        };
    let secs = |s: f64| format!("{s:.1} s");
    let bytes = |b: f64| human(b as u64);
    let budget = 1.2 * installed as f64 + 64_000.0;
    for (index, step) in Step::ALL.into_iter().enumerate() {
        let times = [
            per.seconds[index],
            single.seconds[index],
            peer.seconds[index],
        ];
        let target = match step {
            Step::Cold => check(times[0] <= 1.1 * times[1], "<= 1.1x single"),
            Step::NoChange => check(times[0] <= 1.2 * times[2], "<= 1.2x peer"),
            Step::Bump => check(times[0] <= 0.5 * times[2], "<= 0.5x peer"),
            _ => String::new(),
        };
        row(format!("{}: time", step.label()), times, &secs, target);
        if step == Step::NoChange {
            continue;
        }
        let new = [per.new[index], single.new[index], peer.new[index]];
        let target = match step {
            Step::Bump => check(new[0].0 as f64 <= budget, "<= 1.2x idna + 64 KB"),
            Step::CodeChange => check(new[0].1 == 1, "only the code layer"),
            _ => String::new(),
        };
        let counts = new.map(|(_, n)| n.to_string()).join(" / ");
        row(
            format!("{}: new layers ({counts} layers)", step.label()),
            new.map(|(b, _)| b as f64),
            &bytes,
            target,
        );
        if step == Step::Bump {
            let pushed = [per.pushed, single.pushed, peer.pushed];
            let blobs = pushed.map(|(_, n)| n.to_string()).join(" / ");
            for label in [
                format!("lock bump: the registry receives ({blobs} compressed blobs)"),
                "lock bump: a node holding the previous image pulls (the same blobs)".into(),
            ] {
                row(label, pushed.map(|(b, _)| b as f64), &bytes, String::new());
            }
        }
    }
    row(
        "final image".into(),
        [per.image_bytes, single.image_bytes, peer.image_bytes].map(|b| b as f64),
        &bytes,
        String::new(),
    );
    let reused = |f: &Figures| {
        f.venv_reused
            .map_or("-".into(), |(kept, all)| format!("{kept} of {all}"))
    };
    out.push_str(&format!(
        "| base image digest change: venv layers reused | {} | {} | - | | | pure-Python layers reused |\n",
        reused(per),
        reused(single)
    ));
    out.push_str(&format!(
        "\nidna 3.8 installed (its RECORD's files and their bytecode): {} (target for the bump's new layers: {}).\n\
         Two services locking numpy 2.2.6, built apart without a tier (`twin` {:.1} s from an empty cache): numpy layer {} in `layered`, {} in `twin`: {} ({}).\n\
         \"new layers\" counts the uncompressed bytes of the layers an image has and the one before it lacked; the registry rows count the compressed blobs the bumped image's manifest lists and the previous one's does not.\n",
        human(installed),
        human(budget as u64),
        twin.seconds,
        short(&twin.layered),
        short(&twin.twin),
        if twin.layered == twin.twin { "one digest" } else { "two digests" },
        human(twin.bytes),
    ));
    out
}

fn check(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "missed" })
}

/// `sha256:0123456789ab`.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_entries_pairs_layers_with_their_history_and_keeps_the_venvs() -> Result<()> {
        let config = serde_json::json!({
            "rootfs": {"diff_ids": ["sha256:base", "sha256:own", "sha256:numpy", "sha256:code"]},
            "history": [
                {"created_by": "debootstrap"},
                {"created_by": "ENV PATH=/opt/venv/bin", "empty_layer": true},
                {"created_by": "pybase: [layered] venv /opt/venv from uv.lock: the venv's own files"},
                {"created_by": "pybase: [layered] venv /opt/venv from uv.lock: numpy 2.2.6"},
                {"created_by": "pybase: project code of `layered`"},
            ],
        });
        let venv = venv_entries(&config)?;
        let ids: Vec<&str> = venv.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["sha256:own", "sha256:numpy"]);
        Ok(())
    }

    #[test]
    fn venv_entries_refuses_history_that_does_not_match_the_layers() {
        let config = serde_json::json!({
            "rootfs": {"diff_ids": ["sha256:base"]},
            "history": [{"created_by": "a"}, {"created_by": "b"}],
        });
        assert!(venv_entries(&config).is_err());
    }

    #[test]
    fn numpy_is_named_alone_or_in_a_group_and_not_by_a_longer_name() {
        let from = "pybase: [twin] venv /opt/venv from uv.lock: ";
        assert!(names_numpy(&format!("{from}numpy 2.2.6")));
        assert!(names_numpy(&format!(
            "{from}group 1 of 2: attrs 26.1.0, numpy 2.2.6"
        )));
        assert!(!names_numpy(&format!("{from}numpyro 0.15.0")));
        assert!(!names_numpy(&format!("{from}scipy 1.15.3")));
    }
}

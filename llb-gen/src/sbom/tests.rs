//! The SBOM of the fixture service `inventory` (its own spec, pyproject and
//! uv.lock, checked as a build checks them) on a Debian image, and the
//! pieces it is made of.

use super::*;
use crate::environment::{ImageFacts, Libc};
use crate::project::ProjectFiles;

const PYPROJECT: &str = include_str!("../../../testdata/projects/inventory/pyproject.toml");
const LOCK: &str = include_str!("../../../testdata/projects/inventory/uv.lock");

/// dpkg's status of a small Debian 12 image: two packages installed, one
/// removed with its configuration files kept (not installed).
const STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: gcc-12
Status: deinstall ok config-files
Architecture: amd64
Version: 12.2.0-14

Package: libpq5
Status: install ok installed
Architecture: amd64
Version: 15.10-0+deb12u1

Package: libstdc++6
Status: hold ok installed
Architecture: amd64
Version: 1:12.2.0-14
";

const OS_RELEASE: &str = "\
PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
NAME=\"Debian GNU/Linux\"
VERSION_ID=\"12\"
VERSION_CODENAME=bookworm
ID=debian
";

fn amd64() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: String::new(),
    }
}

/// The SBOM of `inventory` on Python 3.11 with glibc 2.36, its image's
/// files `status` and `os_release`, made at `created`.
fn inventory_sbom(status: Option<&str>, os_release: Option<&str>, created: &str) -> String {
    target_sbom("inventory", status, os_release, created)
}

/// [`inventory_sbom`] of the target `name`.
fn target_sbom(
    name: &str,
    status: Option<&str>,
    os_release: Option<&str>,
    created: &str,
) -> String {
    fixture_sbom("inventory", name, status, os_release, created)
}

/// The SBOM of the target `name` of the fixture project `fixture`, its
/// projects' files read from its directory.
fn fixture_sbom(
    fixture: &str,
    name: &str,
    status: Option<&str>,
    os_release: Option<&str>,
    created: &str,
) -> String {
    let dir = format!(
        "{}/../testdata/projects/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = |path: &str| std::fs::read(format!("{dir}/{path}")).ok();
    let spec_text = read("pybase.yaml").expect("the fixture's spec");
    let spec = crate::spec::parse("pybase.yaml", &spec_text).expect("the fixture's spec");
    let target = crate::plan::select_target(&spec, Some(name)).expect("its target");
    let stack: Vec<ProjectFiles<'_>> = target
        .projects()
        .into_iter()
        .map(|project| ProjectFiles {
            pyproject: read(&project.path("pyproject.toml")),
            lock: read(&project.path("uv.lock")),
            ..ProjectFiles::new(project)
        })
        .collect();
    let infos = crate::project::check_stack("pybase.yaml", &stack).expect("the fixture checks");
    let platform = amd64();
    let facts = ImageFacts {
        python: None,
        libc: Some(Libc::Glibc(Some((2, 36)))),
    };
    let environment = TargetEnvironment::new(&platform, Some("3.11.2"), &facts);
    let levels = levels(&target, &stack, &infos);
    let bytes = document(&SbomInputs {
        name,
        platform: &platform,
        environment: &environment,
        levels: &levels,
        dpkg_status: status,
        dpkg_status_d: &[],
        os_release,
        created,
    })
    .expect("an SBOM");
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

/// The names of the document's packages.
fn names(document: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(document).expect("JSON");
    value["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn the_inventory_image() {
    let sbom = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    insta::assert_snapshot!("inventory", sbom);
}

#[test]
fn only_what_the_venv_installs_and_the_installed_os_packages_are_listed() {
    let sbom = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    let names = names(&sbom);
    // The lock's runtime packages and the code are there...
    for name in [
        "psycopg2",
        "six",
        "inventory",
        "libc6",
        "libpq5",
        "libstdc++6",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    // ...but not the dev group's package, which the lock has too, nor the
    // build backend the pyproject names, nor a removed OS package, whose
    // paragraph the status file still has.
    assert!(LOCK.contains("name = \"iniconfig\""));
    assert!(PYPROJECT.contains("hatchling"));
    assert!(STATUS.contains("Package: gcc-12"));
    for name in ["iniconfig", "hatchling", "gcc-12"] {
        assert!(!names.iter().any(|n| n == name), "{name} listed: {names:?}");
    }
    // psycopg2 has only an sdist: the file it is built from is named.
    assert!(sbom.contains(
        "\"checksumValue\": \"12ec0b40b0273f95296233e8750441339298e6a572f7039da5b260e3c8b60e11\""
    ));
    assert!(sbom.contains("\"referenceLocator\": \"pkg:pypi/psycopg2@2.9.10\""));
}

#[test]
fn a_base_target_lists_the_venv_but_no_code() {
    let image = inventory_sbom(None, None, "2024-01-01T00:00:00Z");
    let base = target_sbom("inventory-base", None, None, "2024-01-01T00:00:00Z");
    assert!(names(&image).contains(&"inventory".to_owned()));
    assert!(image.contains("pkg:pypi/inventory@0.1.0"));
    assert!(!base.contains("pkg:pypi/inventory"), "{base}");
    assert!(base.contains("pkg:pypi/six@1.17.0"), "{base}");
}

#[test]
fn each_package_is_named_after_the_lowest_level_that_installs_it() {
    let sbom = fixture_sbom("tiered", "orders", None, None, "2024-01-01T00:00:00Z");
    let value: serde_json::Value = serde_json::from_str(&sbom).expect("JSON");
    // A package's comment (the image, named after the service too, aside).
    let comment = |name: &str| -> String {
        value["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == name && p["primaryPackagePurpose"] != "CONTAINER")
            .and_then(|p| p["comment"].as_str())
            .unwrap_or_else(|| panic!("{name} missing: {sbom}"))
            .to_owned()
    };
    // six is pinned by both tiers: the root tier installs it.
    assert!(
        comment("six").contains("by tier python-base"),
        "{}",
        comment("six")
    );
    assert!(
        comment("idna").contains("by tier python-web"),
        "{}",
        comment("idna")
    );
    assert!(
        comment("attrs").contains("by service orders"),
        "{}",
        comment("attrs")
    );
    // The service's code is there; the tiers' projects give only venvs.
    assert!(comment("orders").starts_with("the code of service orders"));
    let code: Vec<&str> = value["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["primaryPackagePurpose"] == "APPLICATION")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(code, ["orders"]);
}

#[test]
fn os_packages_have_deb_purls_of_the_distribution() {
    let sbom = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    assert!(
        sbom.contains("pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14?arch=amd64&distro=debian-12")
    );
    assert!(sbom.contains("pkg:deb/debian/libpq5@15.10-0%2Bdeb12u1?arch=amd64&distro=debian-12"));
    // Without os-release the packages are listed, without a purl that
    // would have to guess the distribution.
    let bare = inventory_sbom(Some(STATUS), None, "2024-01-01T00:00:00Z");
    assert!(names(&bare).iter().any(|n| n == "libpq5"));
    assert!(!bare.contains("pkg:deb/"));
    // Without a status file, no OS packages at all.
    let none = inventory_sbom(None, Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    assert!(!names(&none).iter().any(|n| n == "libpq5"));
    assert!(names(&none).iter().any(|n| n == "debian"));
}

#[test]
fn the_same_inputs_give_the_same_bytes_and_the_namespace_follows_the_content() {
    let one = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    let two = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-01T00:00:00Z");
    assert_eq!(one, two);
    let later = inventory_sbom(Some(STATUS), Some(OS_RELEASE), "2024-01-02T00:00:00Z");
    let namespace = |document: &str| {
        let value: serde_json::Value = serde_json::from_str(document).expect("JSON");
        value["documentNamespace"]
            .as_str()
            .expect("a namespace")
            .to_owned()
    };
    assert_ne!(namespace(&one), namespace(&later));
    assert!(
        namespace(&one).starts_with("urn:uuid:"),
        "{}",
        namespace(&one)
    );
}

#[test]
fn a_status_file_that_is_not_deb822_is_an_error() {
    let error = deb_packages("Package libc6\n", &OsRelease::default(), false)
        .err()
        .expect("not deb822");
    assert!(
        error
            .to_string()
            .starts_with("the image's /var/lib/dpkg/status is not a dpkg status file"),
        "{error}"
    );
}

#[test]
fn os_release_values_are_unquoted_as_the_shell_would() {
    let release = OsRelease::parse(
        "# comment\nID='my-os'\nVERSION_ID=\"1.0 \\\"beta\\\"\"\nPRETTY_NAME=Plain\n",
    );
    assert_eq!(release.id.as_deref(), Some("my-os"));
    assert_eq!(release.version_id.as_deref(), Some("1.0 \"beta\""));
    assert_eq!(release.pretty_name.as_deref(), Some("Plain"));
    assert_eq!(release.distro().as_deref(), Some("my-os-1.0 \"beta\""));
}

#[test]
fn a_status_d_file_without_a_status_is_an_installed_package() {
    let os = OsRelease::parse(OS_RELEASE);
    let file = "Package: libssl3\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\n";
    let names = |packages: Vec<SpdxPackage>| -> Vec<String> {
        packages.into_iter().map(|p| p.name).collect()
    };
    assert_eq!(
        names(deb_packages(file, &os, true).expect("deb822")),
        ["libssl3"]
    );
    // In dpkg's own status file, a paragraph without one is not.
    assert!(names(deb_packages(file, &os, false).expect("deb822")).is_empty());
    // A status.d file that says the package is gone is believed.
    let removed = format!("{file}Status: deinstall ok config-files\n");
    assert!(names(deb_packages(&removed, &os, true).expect("deb822")).is_empty());
}

#[test]
fn of_several_wheels_that_fit_the_one_the_installer_prefers_is_the_file_installed() {
    let wheel = |name: &str| {
        Artifact::new(
            true,
            Some(name),
            Some(format!("https://files.example/{name}")),
            Some(format!("{:0>64}", name.len())),
            crate::diagnostic::Position::START,
        )
    };
    // cryptography's two Linux wheels for x86_64 with the stable ABI.
    let newer = wheel("cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl");
    let older =
        wheel("cryptography-44.0.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    let environment = |libc| {
        TargetEnvironment::new(
            &amd64(),
            Some("3.11.2"),
            &ImageFacts {
                python: None,
                libc: Some(libc),
            },
        )
    };
    let glibc_2_36 = environment(Libc::Glibc(Some((2, 36))));
    assert_eq!(
        preferred_wheel(&[&older, &newer], &glibc_2_36),
        Some(&newer)
    );
    // Where the order is not certain, or two wheels tie, none is chosen.
    let unknown = environment(Libc::Unknown);
    assert_eq!(preferred_wheel(&[&older, &newer], &unknown), None);
    let twin = wheel("cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl");
    assert_eq!(preferred_wheel(&[&newer, &twin], &glibc_2_36), None);
}

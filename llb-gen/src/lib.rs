//! pybase's core: from a spec to a BuildKit LLB definition, with no I/O.
//!
//! Data flows in one direction:
//!
//! - [`spec`] parses `pybase.yaml` into a validated [`spec::Spec`], every
//!   error a [`diagnostic::Diagnostic`] with file, line and column;
//! - [`plan`] picks the target and lays out its stages (system, builder,
//!   venv, code), emitting LLB through the [`llb`] builder and the image
//!   config through [`image`];
//! - [`bake`] writes a `docker buildx bake` file for every target;
//! - [`init`] writes a starting spec from a project's `pyproject.toml`;
//! - [`lint`] finds what a valid spec builds, but probably not as meant;
//! - [`sbom`] writes the image's SPDX document from its selection and the
//!   image's package database;
//! - [`llb::marshal`] encodes the graph into a `Definition` whose bytes
//!   depend only on the inputs; [`describe`] turns it back into readable JSON.
//!
//! The crate never touches files, the network or BuildKit: the `pybase`
//! binary reads inputs (through the gateway or from disk) and hands them in.
//! That is what makes every part of it testable with plain unit tests.

pub mod artifacts;
pub mod bake;
pub mod describe;
pub mod diagnostic;
pub mod environment;
pub mod files;
pub mod grouped;
pub mod image;
pub mod init;
pub mod layering;
pub mod lint;
pub mod llb;
pub mod lock;
pub mod names;
pub mod plan;
pub mod poetry;
pub mod project;
pub mod pyproject;
pub mod requirements;
pub mod sbom;
pub mod select;
pub mod spec;
pub mod tools;
pub mod wheel;

//! The published JSON Schema (`specs/pybase.schema.json`) is the one the
//! spec types generate: this test fails when they drift apart.
//! `PYBASE_UPDATE_SCHEMA=1 cargo test -p llb-gen --test schema` rewrites it.

use serde_json::json;

const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/pybase.schema.json");

#[test]
fn the_published_schema_is_generated_from_the_spec_types() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&llb_gen::spec::json_schema()).expect("schema JSON")
    );
    if std::env::var("PYBASE_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(SCHEMA_PATH, &generated).expect("write the schema");
    }
    let published = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        published == generated,
        "specs/pybase.schema.json is out of date: run `PYBASE_UPDATE_SCHEMA=1 cargo test -p llb-gen --test schema`"
    );
}

#[test]
fn the_schema_is_as_strict_as_the_parser() {
    let schema = llb_gen::spec::json_schema();
    // Unknown keys are errors for the parser, so for editors too.
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["required"], json!(["version"]));
    let service = &schema["$defs"]["Service"];
    assert_eq!(service["additionalProperties"], json!(false));
    // A service names `from` or `tier`: the parser says which is missing.
    assert_eq!(service.get("required"), None);
    let tier = &schema["$defs"]["Tier"];
    assert_eq!(tier["additionalProperties"], json!(false));
    assert_eq!(tier["required"], json!(["from"]));
    assert!(
        service["properties"]["from"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("base image")),
        "doc comments become descriptions: {service}"
    );
    assert_eq!(
        schema["$defs"]["System"]["additionalProperties"],
        json!(false)
    );
}

//! `imggen sbom`: the SPDX document validates against the SPDX 2.3 schema and lists exactly
//! the packages cargo compiles into the chosen binary (cargo itself is the oracle).

use crate::harness::{fixture_path, Test};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `imggen sbom` of a fixture with extra flags, parsed.
fn sbom(fixture: &str, flags: &[&str]) -> (String, Value) {
    let mut args = vec!["sbom", "."];
    args.extend(flags);
    let run = Test::fixture(fixture)
        .args(&args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    run.code(0);
    let doc = serde_json::from_str(&run.stdout).unwrap();
    (run.stdout.clone(), doc)
}

fn names(doc: &Value) -> BTreeSet<String> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["versionInfo"].as_str().unwrap()
            )
        })
        .collect()
}

/// What cargo compiles for `package` with `features`, on any target: `cargo tree`'s packages.
fn cargo_tree(fixture: &str, package: &str, features: &[&str]) -> BTreeSet<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(fixture_path(fixture)).args([
        "tree",
        "--locked",
        "--target",
        "all",
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}",
        "-p",
        package,
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.trim_start_matches('v');
            Some(format!("{name} {version}"))
        })
        .collect()
}

#[test]
fn sbom_lists_exactly_the_crates_the_binary_compiles() {
    // lock-closure: `api` uses `shared`; `worker` (and its openssl-sys, libsqlite3-sys) is in
    // the same Cargo.lock but not in api's build; pq-sys only with --features postgres.
    let (_, doc) = sbom("lock-closure", &[]);
    let listed = names(&doc);
    assert_eq!(listed, cargo_tree("lock-closure", "api", &[]));
    assert_eq!(
        listed,
        BTreeSet::from(["api 0.2.0".to_string(), "shared 0.2.0".to_string()])
    );
    let (_, doc) = sbom("lock-closure", &["--features", "postgres"]);
    let listed = names(&doc);
    assert_eq!(listed, cargo_tree("lock-closure", "api", &["postgres"]));
    assert!(
        listed.iter().any(|p| p.starts_with("pq-sys ")),
        "{listed:?}"
    );
    for absent in ["worker ", "openssl-sys ", "libsqlite3-sys "] {
        assert!(
            !listed.iter().any(|p| p.starts_with(absent)),
            "{absent}in {listed:?}"
        );
    }
    let pq = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pq-sys")
        .unwrap();
    let lock = std::fs::read_to_string(fixture_path("lock-closure").join("Cargo.lock")).unwrap();
    let sum = pq["checksums"][0]["checksumValue"].as_str().unwrap();
    assert!(lock.contains(&format!("checksum = \"{sum}\"")), "{sum}");
    assert_eq!(
        pq["externalRefs"][0]["referenceLocator"],
        format!("pkg:cargo/pq-sys@{}", pq["versionInfo"].as_str().unwrap())
    );
    assert_eq!(pq["supplier"], "Organization: crates.io");
    let relations: Vec<String> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["relationshipType"].as_str().unwrap(),
                r["relatedSpdxElement"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        relations.contains(&"DESCRIBES SPDXRef-Package-local-api-0.2.0".to_string()),
        "{relations:?}"
    );
    assert!(
        relations
            .iter()
            .any(|r| r.starts_with("DEPENDS_ON SPDXRef-Package-pq-sys-")),
        "{relations:?}"
    );
}

#[test]
fn sbom_validates_against_the_spdx_2_3_schema_and_is_byte_stable() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/spdx-2.3.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (fixture, flags) in [
        ("axum-single", &[][..]),
        ("lock-closure", &["--features", "postgres"][..]),
    ] {
        let (text, doc) = sbom(fixture, flags);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{fixture}: {errors:#?}");
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        // SPDX's date format: UTC with a Z, whole seconds.
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(text, sbom(fixture, flags).0, "{fixture}: not byte-stable");
    }
    // Documents the schema must refuse, so the check above can fail.
    let (_, good) = sbom("axum-single", &[]);
    let mut doc = good.clone();
    doc["relationships"][0]["relationshipType"] = Value::from("USES");
    assert!(!validator.is_valid(&doc));
    let mut doc = good.clone();
    doc["packages"][0]
        .as_object_mut()
        .unwrap()
        .remove("downloadLocation");
    assert!(!validator.is_valid(&doc));
    // Rules of the SPDX 2.3 text that the published schema does not encode.
    let id = regex::Regex::new(r"^SPDXRef-[a-zA-Z0-9.-]+$").unwrap();
    for p in good["packages"].as_array().unwrap() {
        assert!(id.is_match(p["SPDXID"].as_str().unwrap()), "{p}");
    }
}

#[test]
fn sbom_without_a_lockfile_is_one_error() {
    Test::fixture("axum-single")
        .args(&["sbom", "."])
        .run()
        .code(0);
    let t = Test::fixture("axum-single");
    std::fs::remove_file(t.path().join("Cargo.lock")).unwrap();
    t.args(&["sbom", "."])
        .run()
        .code(2)
        .stderr_has("no Cargo.lock")
        .one_error_line();
}

/// `imggen sbom` of a copy of `fixture` without `SOURCE_DATE_EPOCH`.
fn sbom_without_epoch(t: Test) -> (Test, String) {
    let t = t.args(&["sbom", "."]).env("SOURCE_DATE_EPOCH", "");
    let run = t.run();
    run.code(0);
    (t, run.stdout.clone())
}

fn created(text: &str) -> String {
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["creationInfo"]["created"].as_str().unwrap().to_string()
}

#[test]
fn sbom_of_the_same_source_is_the_same_without_source_date_epoch() {
    // Two copies, seconds apart, outside any git work tree: the image's epoch is 0.
    let (_, a) = sbom_without_epoch(Test::fixture("axum-single"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, b) = sbom_without_epoch(Test::fixture("axum-single"));
    assert_eq!(a, b, "two SBOMs of the same source differ");
    assert_eq!(created(&a), "1970-01-01T00:00:00Z");

    // In a git work tree: the last commit's time, as the oci engine stamps the image.
    let t = Test::fixture("axum-single");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(t.path())
            .args([
                "-c",
                "user.name=imggen",
                "-c",
                "user.email=imggen@example.com",
            ])
            .args(args)
            .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
            .env("GIT_AUTHOR_DATE", "@1600000000 +0000")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "fixture"]);
    let (t, c) = sbom_without_epoch(t);
    assert_eq!(created(&c), "2020-09-13T12:26:40Z");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(sbom_without_epoch(t).1, c);
}

//! The software bill of materials of the chosen binary: an SPDX 2.3 JSON document listing every
//! package `cargo build --locked` compiles into it (the lock graph's closure from the binary's
//! package with its features, as `lockcheck` resolves it), with their dependency edges.
//!
//! Pure and byte-stable: the same lockfile, package, features and `created` time give the same
//! bytes; the document namespace is derived from a hash of the content.

use crate::lockcheck;
use crate::model::{LockEntry, LockGraph};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The crates.io registry source in Cargo.lock.
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";
/// The media type of the document (also the OCI artifact type it is attached with).
pub const MEDIA_TYPE: &str = "application/spdx+json";

/// What the SBOM describes.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The package that holds the binary.
    pub package: &'a str,
    /// The binary target.
    pub bin: &'a str,
    /// The features the build enables.
    pub features: &'a [String],
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// The creation time, `YYYY-MM-DDThh:mm:ssZ` (from `SOURCE_DATE_EPOCH` for reproducible
    /// documents).
    pub created: &'a str,
}

/// The SPDX 2.3 JSON document of `subject`'s dependency closure in `graph`, ending in a newline.
pub fn spdx_json(graph: &LockGraph, subject: &Subject) -> Result<String> {
    let closure = lockcheck::closure(
        graph,
        subject.package,
        subject.features,
        subject.no_default_features,
    );
    if closure.parent.is_empty() {
        bail!(
            "Cargo.lock has no entry for package {}; run `cargo generate-lockfile` and commit Cargo.lock",
            subject.package
        );
    }
    let ids: BTreeMap<usize, String> = closure
        .parent
        .keys()
        .map(|&i| (i, spdx_id(&graph.entries[i])))
        .collect();
    let mut packages: Vec<((&str, &str, &str), Value)> = closure
        .parent
        .keys()
        .map(|&i| {
            let entry = &graph.entries[i];
            let root = closure.parent[&i].is_none();
            let key = (
                entry.name.as_str(),
                entry.version.as_str(),
                ids[&i].as_str(),
            );
            (key, package(entry, &ids[&i], root))
        })
        .collect();
    packages.sort_by(|a, b| a.0.cmp(&b.0));
    let root_index = closure
        .parent
        .iter()
        .find(|(_, p)| p.is_none())
        .map_or(0, |(i, _)| *i);
    let relationships = relationships(&closure.edges, &ids, &ids[&root_index]);
    let packages: Vec<Value> = packages.into_iter().map(|(_, v)| v).collect();
    let root = &graph.entries[root_index];
    let content = serde_json::to_string(&(&packages, &relationships, subject.bin))?;
    let hash = hex(&Sha256::digest(content.as_bytes()));
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", subject.bin, root.version),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/imggen/{}-{}-{}",
            sanitize(subject.bin),
            sanitize(&root.version),
            &hash[..32]
        ),
        "creationInfo": {
            "created": subject.created,
            "creators": [format!("Tool: imggen-{}", env!("CARGO_PKG_VERSION"))],
            "comment": format!(
                "The packages cargo build --locked compiles into the binary {} of package {} (Cargo.lock's dependency closure with the build's features).",
                subject.bin, subject.package
            ),
        },
        "packages": packages,
        "relationships": relationships,
    });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}

/// DESCRIBES for the root, then every DEPENDS_ON edge of the closure, sorted.
fn relationships(
    edges: &std::collections::BTreeSet<(usize, usize)>,
    ids: &BTreeMap<usize, String>,
    root_id: &str,
) -> Vec<Value> {
    let mut pairs: Vec<(&str, &str)> = edges
        .iter()
        .filter(|(a, b)| a != b && ids.contains_key(a) && ids.contains_key(b))
        .map(|(a, b)| (ids[a].as_str(), ids[b].as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", root_id)];
    out.extend(pairs.iter().map(|(a, b)| relationship(a, "DEPENDS_ON", b)));
    out
}

/// One SPDX package for a Cargo.lock entry.
fn package(entry: &LockEntry, id: &str, root: bool) -> Value {
    let crates_io = entry.source.as_deref() == Some(CRATES_IO);
    let mut p = json!({
        "name": entry.name,
        "SPDXID": id,
        "versionInfo": entry.version,
        "downloadLocation": download_location(entry),
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "supplier": if crates_io { "Organization: crates.io" } else { "NOASSERTION" },
        "primaryPackagePurpose": if root { "APPLICATION" } else { "LIBRARY" },
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl(entry),
        }],
    });
    if let Some(sum) = entry.checksum.as_deref().filter(|s| is_sha256_hex(s)) {
        p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sum }]);
    }
    let source_info = match entry.source.as_deref() {
        None => {
            Some("local package of the project (a workspace member or path dependency)".to_string())
        }
        Some(s) if s == CRATES_IO => None,
        Some(s) => Some(format!("from {s}")),
    };
    if let Some(info) = source_info {
        p["sourceInfo"] = json!(info);
    }
    p
}

/// Where the package's source can be fetched: crates.io's download URL, the git URL, or
/// NOASSERTION for local packages and other registries.
fn download_location(entry: &LockEntry) -> String {
    match entry.source.as_deref() {
        Some(CRATES_IO) => format!(
            "https://crates.io/api/v1/crates/{}/{}/download",
            entry.name, entry.version
        ),
        Some(s) if s.starts_with("git+") => {
            let (url, rev) = s.split_once('#').unwrap_or((s, ""));
            let url = url.split('?').next().unwrap_or(url);
            if rev.is_empty() {
                url.to_string()
            } else {
                format!("{url}@{rev}")
            }
        }
        _ => "NOASSERTION".into(),
    }
}

/// `pkg:cargo/name@version`.
fn purl(entry: &LockEntry) -> String {
    format!("pkg:cargo/{}@{}", entry.name, entry.version)
}

/// `SPDXRef-Package-<name>-<version>`, with only the characters SPDX ids allow.
fn spdx_id(entry: &LockEntry) -> String {
    let local = if entry.source.is_none() { "local-" } else { "" };
    format!(
        "SPDXRef-Package-{local}{}-{}",
        sanitize(&entry.name),
        sanitize(&entry.version)
    )
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn relationship(a: &str, kind: &str, b: &str) -> Value {
    json!({ "spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LocalManifest, ManifestDep};

    fn entry(name: &str, version: &str, source: Option<&str>, deps: &[&str]) -> LockEntry {
        LockEntry {
            name: name.into(),
            version: version.into(),
            source: source.map(str::to_string),
            checksum: source.map(|_| "ab".repeat(32)),
            deps: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// app -> serde (registry), app -> util (local, optional `extra` -> regex off).
    fn graph() -> LockGraph {
        let mut g = LockGraph {
            entries: vec![
                entry("app", "0.1.0", None, &["serde", "util"]),
                entry("serde", "1.0.0", Some(CRATES_IO), &[]),
                entry("util", "0.2.0", None, &["regex"]),
                entry("regex", "1.0.0", Some(CRATES_IO), &[]),
                entry("unused", "0.1.0", None, &[]),
            ],
            ..Default::default()
        };
        let dep = |key: &str, optional: bool| ManifestDep {
            key: key.into(),
            package: key.into(),
            optional,
            default_features: true,
            ..Default::default()
        };
        g.locals.insert(
            "app".into(),
            LocalManifest {
                name: "app".into(),
                version: "0.1.0".into(),
                member: true,
                deps: vec![dep("serde", false), dep("util", false)],
                ..Default::default()
            },
        );
        g.locals.insert(
            "util".into(),
            LocalManifest {
                name: "util".into(),
                version: "0.2.0".into(),
                deps: vec![dep("regex", true)],
                ..Default::default()
            },
        );
        g
    }

    fn subject<'a>(features: &'a [String]) -> Subject<'a> {
        Subject {
            package: "app",
            bin: "app",
            features,
            no_default_features: false,
            created: "2024-01-01T00:00:00Z",
        }
    }

    #[test]
    fn lists_the_closure_only_with_purls_checksums_and_edges() {
        let text = spdx_json(&graph(), &subject(&[])).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "serde", "util"]);
        let serde = &doc["packages"][1];
        assert_eq!(
            serde["externalRefs"][0]["referenceLocator"],
            "pkg:cargo/serde@1.0.0"
        );
        assert_eq!(serde["checksums"][0]["checksumValue"], "ab".repeat(32));
        assert_eq!(
            serde["downloadLocation"],
            "https://crates.io/api/v1/crates/serde/1.0.0/download"
        );
        assert!(doc["packages"][0]["sourceInfo"]
            .as_str()
            .unwrap()
            .contains("local package"));
        let rels: Vec<String> = doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["spdxElementId"].as_str().unwrap(),
                    r["relationshipType"].as_str().unwrap(),
                    r["relatedSpdxElement"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            rels,
            [
                "SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-local-app-0.1.0",
                "SPDXRef-Package-local-app-0.1.0 DEPENDS_ON SPDXRef-Package-local-util-0.2.0",
                "SPDXRef-Package-local-app-0.1.0 DEPENDS_ON SPDXRef-Package-serde-1.0.0",
            ]
        );
    }

    #[test]
    fn same_input_same_bytes_and_the_namespace_follows_the_content() {
        let a = spdx_json(&graph(), &subject(&[])).unwrap();
        assert_eq!(a, spdx_json(&graph(), &subject(&[])).unwrap());
        let mut g = graph();
        g.entries[1].version = "1.0.1".into();
        let b = spdx_json(&g, &subject(&[])).unwrap();
        let ns = |t: &str| serde_json::from_str::<Value>(t).unwrap()["documentNamespace"].clone();
        assert_ne!(ns(&a), ns(&b));
        assert!(a.contains("\"created\": \"2024-01-01T00:00:00Z\""));
    }

    #[test]
    fn a_package_missing_from_the_lock_is_an_error() {
        let s = Subject {
            package: "nope",
            ..subject(&[])
        };
        let e = spdx_json(&graph(), &s).unwrap_err().to_string();
        assert!(
            e.contains("package nope") && e.contains("cargo generate-lockfile"),
            "{e}"
        );
    }
}

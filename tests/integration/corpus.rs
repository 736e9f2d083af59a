//! The published-crates corpus check: five binary crates from crates.io (corpus/crates.toml),
//! fetched through cargo and verified against their recorded checksums, then planned by imggen.
//! The score (bin and port both right) may only go up, and every crate's plan must equal the one
//! recorded, so any change in behaviour on real code shows up as a reviewed data change.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::harness::{self, Test};

/// corpus/crates.toml.
#[derive(Deserialize)]
struct Corpus {
    /// How many crates imggen must get right (bin and port); raised as imggen improves.
    min_right: usize,
    #[serde(rename = "crate")]
    crates: Vec<Crate>,
}

/// One published crate and the answers recorded for it.
#[derive(Deserialize)]
struct Crate {
    name: String,
    version: String,
    checksum: String,
    bin: String,
    port: u16,
    imggen_bin: String,
    imggen_port: u16,
    /// CI builds this crate's image and probes `port` (the smallest crates only).
    #[serde(default)]
    ci_build: bool,
    /// The container accepts connections on `port` (imggen passes no arguments).
    #[serde(default)]
    serves: bool,
}

fn corpus() -> Corpus {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/crates.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `$CARGO_HOME`, or `~/.cargo` as cargo defaults it.
fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cargo"),
        PathBuf::from,
    )
}

/// Fetches every crate through a throwaway package and returns its Cargo.lock, or None (the
/// test then skips outside CI) when cargo cannot reach the registry.
fn fetch(crates: &[Crate], dir: &Path) -> Option<toml::Table> {
    let deps: String = crates
        .iter()
        .map(|c| format!("{} = \"={}\"\n", c.name, c.version))
        .collect();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"corpus-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .arg("fetch")
        .current_dir(dir)
        .output()
        .expect("cargo runs");
    let failed = (!out.status.success()).then(|| {
        format!(
            "`cargo fetch` of the corpus crates failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    });
    if !harness::available(failed, "let cargo reach the crates.io registry") {
        return None;
    }
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    Some(toml::from_str(&lock).unwrap())
}

/// The lock's checksum of package `name` at `version`.
fn lock_checksum<'a>(lock: &'a toml::Table, name: &str, version: &str) -> Option<&'a str> {
    lock["package"].as_array()?.iter().find_map(|p| {
        (p.get("name")?.as_str()? == name && p.get("version")?.as_str()? == version)
            .then(|| p.get("checksum")?.as_str())
            .flatten()
    })
}

/// The downloaded `.crate` of `name`-`version` in cargo's registry cache.
fn cached_crate(name: &str, version: &str) -> PathBuf {
    let cache = cargo_home().join("registry/cache");
    let file = format!("{name}-{version}.crate");
    std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .map(|d| d.unwrap().path().join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} is not in {}", cache.display()))
}

/// A fresh project directory holding the crate's unpacked source.
fn unpacked(c: &Crate) -> Test {
    let t = Test::empty();
    let tarball = cached_crate(&c.name, &c.version);
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("--strip-components=1")
        .arg("-C")
        .arg(t.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar xzf {}", tarball.display());
    t
}

/// True when something accepts a TCP connection on 127.0.0.1:`port` within `seconds`.
fn accepts(port: u16, seconds: u64) -> bool {
    for _ in 0..seconds {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    false
}

#[test]
fn smallest_published_crates_build_and_serve_as_recorded() {
    let corpus = corpus();
    let chosen: Vec<&Crate> = corpus.crates.iter().filter(|c| c.ci_build).collect();
    assert!(
        chosen.len() >= 2,
        "corpus/crates.toml marks the smallest crates ci_build = true"
    );
    if !harness::engine() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let owned: Vec<Crate> = chosen
        .iter()
        .map(|c| Crate {
            name: c.name.clone(),
            version: c.version.clone(),
            checksum: c.checksum.clone(),
            bin: c.bin.clone(),
            port: c.port,
            imggen_bin: c.imggen_bin.clone(),
            imggen_port: c.imggen_port,
            ci_build: true,
            serves: c.serves,
        })
        .collect();
    if fetch(&owned, dir.path()).is_none() {
        return;
    }
    for c in chosen {
        let t = unpacked(c);
        // --force: a published crate may carry its own Dockerfile (kept as Dockerfile.orig).
        let mut init = vec!["init".to_string(), "--force".to_string()];
        if c.imggen_bin.is_empty() {
            init.extend(["--bin".to_string(), c.bin.clone()]);
        }
        let init: Vec<&str> = init.iter().map(String::as_str).collect();
        let t = t.args(&init);
        t.run().code(0);
        let tag = format!("imggen-test/corpus-{}:{}", c.name, std::process::id());
        let (_t, run) = crate::engine::build(t, &["--tag", &tag]);
        run.code(0);
        assert!(
            !accepts(c.port, 1),
            "port {} is taken on the host before {} starts",
            c.port,
            c.name
        );
        let name = format!("imggen-test-corpus-{}-{}", c.name, std::process::id());
        crate::docker::docker_ok(&["run", "-d", "--network", "host", "--name", &name, &tag]);
        let served = accepts(c.port, 60);
        let _ = crate::docker::docker().args(["rm", "-f", &name]).output();
        let _ = crate::docker::docker().args(["rmi", &tag]).output();
        assert_eq!(
            served,
            c.serves,
            "{}: the container {} on port {}; update `serves` in corpus/crates.toml after review",
            c.name,
            if served { "serves" } else { "does not serve" },
            c.port
        );
    }
}

/// What `imggen plan` chose on the crate's source: its bin and port ("" and 0 when it stopped
/// or exposes nothing).
fn imggen_choice(c: &Crate) -> (String, u16) {
    let t = unpacked(c).args(&["plan", "--format", "json"]);
    let run = t.run();
    if run.code == 2 {
        return (String::new(), 0);
    }
    run.code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let bin = v["plan"]["bin"].as_str().unwrap_or_default().to_string();
    let port = v["plan"]["port"]
        .as_u64()
        .map_or(0, |p| u16::try_from(p).unwrap());
    (bin, port)
}

#[test]
fn published_crates_are_unchanged_and_imggen_scores_at_least_the_recorded_figure() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let Some(lock) = fetch(&corpus.crates, dir.path()) else {
        return;
    };
    for c in &corpus.crates {
        assert_eq!(
            lock_checksum(&lock, &c.name, &c.version),
            Some(c.checksum.as_str()),
            "crate {} {} on crates.io no longer has the recorded checksum (corpus/crates.toml)",
            c.name,
            c.version
        );
    }

    let mut table =
        String::from("crate          expected                  imggen                    right\n");
    let mut right = 0;
    let mut changed = Vec::new();
    for c in &corpus.crates {
        let (bin, port) = imggen_choice(c);
        let ok = bin == c.bin && port == c.port;
        right += usize::from(ok);
        table += &format!(
            "{:<14} {:<25} {:<25} {}\n",
            c.name,
            format!("{} :{}", c.bin, c.port),
            if bin.is_empty() {
                "stopped".to_string()
            } else {
                format!("{bin} :{port}")
            },
            if ok { "yes" } else { "no" }
        );
        if (bin.as_str(), port) != (c.imggen_bin.as_str(), c.imggen_port) {
            changed.push(format!(
                "{}: imggen chose {bin:?} :{port}, recorded imggen_bin = {:?}, imggen_port = {}",
                c.name, c.imggen_bin, c.imggen_port
            ));
        }
    }
    let total = corpus.crates.len();
    table += &format!("score: {right} / {total} right (bin and port)\n");
    // Straight to stderr, past the test harness's capture, so the table shows in every run.
    let _ = write!(std::io::stderr(), "{table}");
    assert!(
        right >= corpus.min_right,
        "imggen got {right} / {total} published crates right, below min_right = {} in corpus/crates.toml:\n{table}",
        corpus.min_right
    );
    assert!(
        changed.is_empty(),
        "imggen's plan changed on published crates; review and update corpus/crates.toml:\n{}\n{table}",
        changed.join("\n")
    );
}

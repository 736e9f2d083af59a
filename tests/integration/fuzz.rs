//! Fuzz and property harness. Arbitrary imggen.toml, Cargo.toml, Cargo.lock, .dockerignore and
//! Rust source text never panics the analysis, the plan or the render; every generated file still
//! parses; and no configuration value can add a line, key, instruction or shell command to a
//! generated file: it is refused, or it lands only where it belongs.
//!
//! Deterministic (fixed seed) and bounded by a case count, `FUZZ_CASES` (default 256 per target),
//! so CI spends a fixed time. Inputs are the fixtures' files and the seeds in
//! `tests/fuzz-corpus/`, mutated with hostile fragments (newlines, quotes, shell and template
//! syntax, control and non-ASCII characters).

use crate::harness::{copy_tree, fixture_path};
use imggen::config::Config;
use imggen::dockerignore::DockerIgnore;
use imggen::model::ProjectModel;
use imggen::template::GeneratedFile;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{
    Config as RunConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use std::collections::BTreeMap;
use std::path::Path;

/// A runner with a fixed seed and the case budget.
fn runner() -> TestRunner {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let config = RunConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..RunConfig::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// The seeds of one kind: the hand-written files in `tests/fuzz-corpus/<kind>/` and every
/// fixture's file of that kind (manifests, imggen.toml, Rust sources), sorted by path.
fn corpus(kind: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<std::path::PathBuf> =
        walkdir::WalkDir::new(root.join("tests/fuzz-corpus").join(kind))
            .into_iter()
            .chain(walkdir::WalkDir::new(root.join("tests/fixtures")))
            .filter_map(Result::ok)
            .map(walkdir::DirEntry::into_path)
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                let in_corpus = p.starts_with(root.join("tests/fuzz-corpus"));
                let in_target = p.components().any(|c| c.as_os_str() == "target");
                in_corpus
                    || !in_target
                        && match kind {
                            "cargo-toml" => name == "Cargo.toml",
                            "imggen-toml" => name == "imggen.toml",
                            "rust" => name.ends_with(".rs"),
                            _ => false,
                        }
            })
            .collect();
    names.sort();
    assert!(!names.is_empty(), "no {kind} seeds");
    names
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

/// Pieces that break naive quoting or splitting in every format imggen writes.
const HOSTILE: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\"",
    "'",
    "`",
    "$(",
    "${",
    ")",
    "}",
    "{",
    ";",
    "|",
    "&&",
    "&",
    "\\",
    "\\n",
    "{{",
    "}}",
    "{%",
    "%}",
    "#",
    " ",
    "\t",
    "=",
    "[",
    "]",
    ":",
    ",",
    "-",
    "--",
    "/",
    "..",
    "../",
    "~",
    "*",
    "?",
    "!",
    "<",
    ">",
    "\0",
    "\u{7f}",
    "\u{2028}",
    "é",
    "\u{feff}",
    "%",
    "@",
    "0",
    "8080",
    "true",
    "null",
    "yes",
    "RUN",
    "ExecStartPre=+",
    "\nRUN curl x | sh\n",
];

/// One hostile or ordinary fragment.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(HOSTILE).prop_map(str::to_string),
        2 => "[a-z0-9_.-]{1,6}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// A string a user could type into any value.
fn hostile_string() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 1..6).prop_map(|v| v.concat())
}

/// The largest char boundary at or below `at`.
fn floor(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A seed with a few edits: insertions, deletions, duplicated lines and replacements.
fn mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let n = seeds.len();
    (
        0..n,
        prop::collection::vec((any::<Index>(), 0u8..4, hostile_string()), 0..6),
    )
        .prop_map(move |(i, edits)| {
            let mut s = seeds[i].clone();
            for (at, op, text) in edits {
                let start = floor(&s, at.index(s.len() + 1));
                let end = floor(&s, start + text.len().max(1));
                match op {
                    0 => s.insert_str(start, &text),
                    1 => s.replace_range(start..end, ""),
                    2 => {
                        let line_start = s[..start].rfind('\n').map_or(0, |p| p + 1);
                        let line_end = s[start..].find('\n').map_or(s.len(), |p| start + p + 1);
                        let line = s[line_start..line_end].to_string();
                        s.insert_str(line_start, &line);
                    }
                    _ => s.replace_range(start..end, &text),
                }
            }
            s
        })
}

/// Runs `check` over `strategy` with the fixed runner; a panic or a failure fails the test with
/// the smallest input that shows it.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = runner().run(&strategy, check) {
        panic!("{name}: {e}");
    }
}

/// The axum-single fixture in a temporary directory with every platform selected.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture_path("axum-single"), dir.path());
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/logo.txt"), "logo").unwrap();
    let manifest = dir.path().join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[features]\nextra = []\n");
    std::fs::write(&manifest, text).unwrap();
    dir
}

/// Plans and renders a project under one config file text.
fn generate(model: &ProjectModel, toml_text: &str) -> anyhow::Result<Vec<GeneratedFile>> {
    Ok(plan_and_render(model, toml_text)?.1)
}

/// The plan, the files, and the config layer read from `toml_text`.
fn plan_and_render(
    model: &ProjectModel,
    toml_text: &str,
) -> anyhow::Result<(imggen::deploy::Plan, Vec<GeneratedFile>, Config)> {
    let file = Config::parse_file(toml_text, "imggen.toml")?;
    let config = Config::resolve(Some(file.clone()), Config::default(), Config::default());
    let plan = imggen::deploy::plan(model, &config)?;
    let files = imggen::generate::files(&plan)?;
    Ok((plan, files, file))
}

/// Keys that are also command-line flags, which `init` writes into imggen.toml.
const FLAG_KEYS: &[&str] = &[
    "bin",
    "profile",
    "features[]",
    "base",
    "rust_version",
    "args[]",
];

#[test]
fn imggen_toml_text_never_panics() {
    let dir = project();
    let model = imggen::analyze::analyze(dir.path()).unwrap();
    fuzz("imggen.toml", mutated(corpus("imggen-toml")), |text| {
        if let Ok(files) = generate(&model, &text) {
            for f in &files {
                parses(f).map_err(TestCaseError::fail)?;
            }
        }
        Ok(())
    });
}

#[test]
fn dockerignore_text_never_panics() {
    let paths = [
        "",
        "a",
        "src/main.rs",
        ".env",
        "deep/er/.env",
        "x/../y",
        "#hash",
        "[",
        "\u{e9}.pem",
    ];
    fuzz("dockerignore", mutated(corpus("dockerignore")), |text| {
        let _ = DockerIgnore::try_parse(&text);
        let rules = DockerIgnore::parse(&text);
        for p in paths {
            let _ = rules.is_excluded(p);
            let _ = rules.may_contain_exceptions_under(p);
        }
        Ok(())
    });
}

/// Which project file a case replaces.
#[derive(Debug, Clone, Copy)]
enum Target {
    Manifest,
    Lock,
    Source,
}

#[test]
fn project_files_never_panic_the_analysis() {
    let dir = project();
    let root = dir.path().to_path_buf();
    let originals: Vec<(String, String)> = ["Cargo.toml", "Cargo.lock", "src/main.rs"]
        .iter()
        .map(|p| {
            (
                p.to_string(),
                std::fs::read_to_string(root.join(p)).unwrap(),
            )
        })
        .collect();
    let strategy = prop_oneof![
        mutated(corpus("cargo-toml")).prop_map(|t| (Target::Manifest, t)),
        mutated(corpus("cargo-lock")).prop_map(|t| (Target::Lock, t)),
        mutated(corpus("rust")).prop_map(|t| (Target::Source, t)),
    ];
    fuzz("project files", strategy, |(target, text)| {
        for (path, original) in &originals {
            std::fs::write(root.join(path), original).unwrap();
        }
        let path = match target {
            Target::Manifest => "Cargo.toml",
            Target::Lock => "Cargo.lock",
            Target::Source => "src/main.rs",
        };
        std::fs::write(root.join(path), &text).unwrap();
        if let Ok(model) = imggen::analyze::analyze(&root) {
            let all = "version = 1\nplatforms = [\"fly\", \"cloud-run\", \"render\", \"vm\"]\n";
            if let Ok(files) = generate(&model, all) {
                for f in &files {
                    parses(f).map_err(TestCaseError::fail)?;
                }
            }
        }
        Ok(())
    });
}

/// Where a value goes in imggen.toml, and a value the fixture accepts there. A benign value is
/// never the key's default when the files comment on defaults (render.yaml says when plan and
/// region are imggen's), so a legitimate non-default value keeps the baseline's shape.
const VALUE_KEYS: &[(&str, &str)] = &[
    ("bin", "hello-axum"),
    ("profile", "release"),
    ("features[]", "extra"),
    ("base", "bookworm-slim"),
    ("rust_version", "1.95.0"),
    (
        "builder_image",
        "lukemathwalker/cargo-chef:latest-rust-1.95.0-bookworm",
    ),
    ("health_path", "/health"),
    ("stop_signal", "SIGTERM"),
    ("include[]", "assets"),
    ("build_packages[]", "libfoo-dev"),
    ("runtime_packages[]", "libfoo1"),
    ("args[]", "serve"),
    ("env.<key>", "APP_MODE"),
    ("env.APP_MODE", "prod"),
    ("image.name", "ghcr.io/acme/api"),
    ("image.tags[]", "v1"),
    (
        "image.digest",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("libc", "gnu"),
    ("platforms[]", "render"),
    ("fly.app", "acme-api"),
    ("fly.primary_region", "ams"),
    ("fly.auto_stop_machines", "stop"),
    ("fly.size", "shared-cpu-1x"),
    ("fly.memory", "512mb"),
    ("fly.cpu_kind", "shared"),
    ("fly.release_command", "migrate"),
    ("cloud_run.service", "api"),
    ("cloud_run.image", "europe-docker.pkg.dev/acme/apps/api:1"),
    ("cloud_run.cpu", "1"),
    ("cloud_run.memory", "512Mi"),
    ("render.service", "api"),
    ("render.plan", "standard"),
    ("render.region", "frankfurt"),
    ("vm.domain", "api.example.com"),
    ("vm.proxy", "nginx"),
    ("vm.static_dir", "assets"),
    ("ci.imggen_version", "0.4.1"),
    (
        "ci.gcp_workload_identity_provider",
        "projects/123/locations/global/workloadIdentityPools/ci/providers/github",
    ),
    (
        "ci.gcp_service_account",
        "deployer@acme.iam.gserviceaccount.com",
    ),
    ("ci.gcp_region", "europe-west1"),
];

/// imggen.toml text with every platform selected and `value` at `key`, escaped as TOML (so the
/// value imggen sees is exactly `value`).
fn config_with(key: &str, value: &str) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc["version"] = toml_edit::value(1);
    let mut platforms = toml_edit::Array::new();
    for p in [
        "fly",
        "cloud-run",
        "render",
        "vm",
        "github-actions",
        "gitlab-ci",
    ] {
        platforms.push(p);
    }
    doc["platforms"] = toml_edit::value(platforms);
    let (path, list) = match key.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (key, false),
    };
    let item = if list {
        let mut a = toml_edit::Array::new();
        a.push(value);
        toml_edit::value(a)
    } else {
        toml_edit::value(value)
    };
    match path.split_once('.') {
        Some(("env", "<key>")) => {
            doc["env"] = toml_edit::table();
            doc["env"][value] = toml_edit::value("1");
        }
        Some((table, field)) => {
            doc[table] = toml_edit::table();
            doc[table][field] = item;
        }
        None => doc[path] = item,
    }
    doc.to_string()
}

/// Characters that could start a new line, key, instruction, directive or command.
fn structural(value: &str) -> bool {
    value.chars().any(|c| {
        c.is_control()
            || c.is_whitespace()
            || "\"'`$;|&<>{}()[]#\\=:,%*?!~".contains(c)
            || !c.is_ascii()
    })
}

#[test]
fn config_values_are_refused_or_land_where_they_belong() {
    let dir = project();
    let model = imggen::analyze::analyze(dir.path()).unwrap();
    let baselines: BTreeMap<&str, BTreeMap<String, Shape>> = VALUE_KEYS
        .iter()
        .map(|(key, benign)| {
            let files = generate(&model, &config_with(key, benign))
                .unwrap_or_else(|e| panic!("{key} = {benign:?} must be accepted: {e:#}"));
            let shapes = files
                .iter()
                .map(|f| (f.path.clone(), parses(f).unwrap()))
                .collect();
            (*key, shapes)
        })
        .collect();
    let strategy = (prop::sample::select(VALUE_KEYS), hostile_string());
    fuzz("config values", strategy, |((key, _), value)| {
        let Ok((plan, files, layer)) = plan_and_render(&model, &config_with(key, &value)) else {
            return Ok(());
        };
        if FLAG_KEYS.contains(&key) {
            let written = imggen::init::config_file(&plan, &layer);
            let again = generate(&model, &written).map_err(|e| {
                TestCaseError::fail(format!(
                    "{key} = {value:?}: the imggen.toml init writes does not load: {e:#}\n{written}"
                ))
            })?;
            prop_assert_eq!(
                &again,
                &files,
                "{} = {:?}: init then generate drifts",
                key,
                value
            );
        }
        let mut shapes = BTreeMap::new();
        for f in &files {
            let shape =
                parses(f).map_err(|e| TestCaseError::fail(format!("{key} = {value:?}: {e}")))?;
            shapes.insert(f.path.clone(), shape);
        }
        if structural(&value) {
            let base = &baselines[key];
            prop_assert_eq!(
                shapes.keys().collect::<Vec<_>>(),
                base.keys().collect::<Vec<_>>(),
                "{} = {:?} changed the set of files",
                key,
                value
            );
            for (path, shape) in &shapes {
                prop_assert_eq!(
                    shape,
                    &base[path],
                    "{} = {:?} changed the structure of {}",
                    key,
                    value,
                    path
                );
            }
        }
        Ok(())
    });
}

/// What a value may never change in a generated file: its line count and its syntax tree's
/// skeleton (instructions and shell operators, keys, sections, blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    lines: usize,
    skeleton: Vec<String>,
}

/// Parses a generated file by its kind and returns its shape, or why it does not parse.
fn parses(f: &GeneratedFile) -> Result<Shape, String> {
    let text = &f.contents;
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    let skeleton = if name == "Dockerfile" {
        dockerfile_skeleton(text)?
    } else if name.ends_with(".toml") {
        let value: toml::Table = toml::from_str(text).map_err(|e| format!("{}: {e}", f.path))?;
        leaf_paths(&serde_json::to_value(value).unwrap())
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", f.path))?;
        leaf_paths(&value)
    } else if name.ends_with(".service") {
        unit_skeleton(text).map_err(|e| format!("{}: {e}", f.path))?
    } else if name.ends_with(".env.example") {
        env_file_skeleton(text)
    } else {
        block_skeleton(text)
    };
    Ok(Shape {
        lines: text.lines().count(),
        skeleton,
    })
}

/// The number of leaves under each key path of a parsed TOML or YAML document (list indices
/// and the names of environment variables dropped), so a value cannot add or move a key.
fn leaf_paths(value: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, usize>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    let k = if path.ends_with(".env") {
                        "*"
                    } else {
                        k.as_str()
                    };
                    walk(child, &format!("{path}.{k}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                for child in items {
                    walk(child, &format!("{path}[]"), out);
                }
            }
            _ => *out.entry(path.to_string()).or_default() += 1,
        }
    }
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out.into_iter().map(|(k, n)| format!("{k}:{n}")).collect()
}

/// Dockerfile instructions in order, each RUN with the shell operators outside quotes.
fn dockerfile_skeleton(text: &str) -> Result<Vec<String>, String> {
    const INSTRUCTIONS: &[&str] = &[
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ];
    let mut out = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        if logical.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let word = logical.split_whitespace().next().unwrap_or_default();
        let upper = word.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&upper.as_str()) {
            return Err(format!("Dockerfile: `{word}` is not an instruction"));
        }
        let mut entry = upper.clone();
        if matches!(upper.as_str(), "RUN" | "CMD" | "ENTRYPOINT") {
            entry.push_str(&shell_operators(&logical));
        }
        out.push(entry);
        logical.clear();
    }
    if !logical.is_empty() {
        return Err("Dockerfile: ends inside a continued line".into());
    }
    Ok(out)
}

/// Shell operators and substitutions outside quotes (substitutions also inside double quotes).
fn shell_operators(line: &str) -> String {
    let (mut single, mut double, mut out) = (false, false, String::new());
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if !single => i += 1,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '`' if !single => out.push('`'),
            '$' if !single && chars.get(i + 1) == Some(&'(') => out.push_str("$("),
            ';' | '|' | '&' | '<' | '>' | '\n' if !single && !double => out.push(c),
            _ => {}
        }
        i += 1;
    }
    out
}

/// A systemd unit's sections and keys, in order; any other line is a syntax error.
fn unit_skeleton(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            out.push(t.to_string());
        } else if let Some((key, _)) = t.split_once('=') {
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("`{key}` is not a unit key"));
            }
            out.push(key.to_string());
        } else {
            return Err(format!("`{t}` is neither a section nor a key"));
        }
    }
    Ok(out)
}

/// A systemd environment file: each line blank, a comment, or `NAME=` of an assignment, so a
/// value can neither add a line nor turn a comment into a setting.
fn env_file_skeleton(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| match line.trim_start() {
            "" => String::new(),
            l if l.starts_with('#') => "#".into(),
            l => l.split('=').next().unwrap_or_default().to_string() + "=",
        })
        .collect()
}

/// Braces and statement ends outside quotes (Caddyfile, nginx.conf, .dockerignore): a value
/// cannot open a block or end a directive.
fn block_skeleton(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let mut quoted = false;
            line.chars()
                .filter(|c| {
                    if *c == '"' {
                        quoted = !quoted;
                    }
                    !quoted && matches!(c, '{' | '}' | ';')
                })
                .collect()
        })
        .collect()
}

/// Any Dockerfile text: the evidence reader never panics and its findings are single lines.
#[test]
fn dockerfile_text_never_panics() {
    fuzz("Dockerfile", mutated(corpus("dockerfile")), |text| {
        let found = imggen::analyze::dockerfile::parse("Dockerfile", &text);
        for line in found.findings() {
            prop_assert!(!line.contains(char::is_control), "{line:?}");
        }
        let _ = found.port_evidence();
        Ok(())
    });
}

/// Any hand-written .dockerignore carried into the generated one: the result is valid for
/// Docker, keeps credential files out and the build's inputs in, and reads back to the same
/// kept rules (regeneration is byte-stable).
#[test]
fn kept_dockerignore_rules_stay_valid_safe_and_stable() {
    let dir = project();
    let model = imggen::analyze::analyze(dir.path()).unwrap();
    let plan = imggen::deploy::plan(&model, &Config::default()).unwrap();
    let dockerignore = |files: Vec<GeneratedFile>| {
        files
            .into_iter()
            .find(|f| f.path == ".dockerignore")
            .unwrap()
            .contents
    };
    let ours =
        imggen::dockerignore::read_patterns(&dockerignore(imggen::generate::files(&plan).unwrap()));
    fuzz(
        "kept .dockerignore",
        mutated(corpus("dockerignore")),
        |text| {
            let kept =
                imggen::keep::filter(&imggen::keep::user_rules(&text), &ours, &model, &plan.image);
            let generated = dockerignore(imggen::generate::files_kept(&plan, &kept).unwrap());
            let rules = DockerIgnore::try_parse(&generated)
                .map_err(|e| TestCaseError::fail(format!("{e:?}\n{generated}")))?;
            for secret in [".env", "src/.env", "deep/er/id_rsa", "a/b.pem", "secrets/x"] {
                prop_assert!(rules.is_excluded(secret), "{secret} kept by\n{generated}");
            }
            for needed in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
                prop_assert!(
                    !rules.is_excluded(needed),
                    "{needed} excluded by\n{generated}"
                );
            }
            let again = imggen::keep::filter(
                &imggen::keep::user_rules(&generated),
                &ours,
                &model,
                &plan.image,
            );
            prop_assert_eq!(&again.lines, &kept.lines, "{}", generated);
            Ok(())
        },
    );
}

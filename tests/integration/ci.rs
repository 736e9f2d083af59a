//! `imggen build` as a CI tool, against the real engine and the registry on 127.0.0.1:5000:
//! the registry layer cache, GitHub Actions annotations, outputs and summary, and engines
//! reached over TLS (from the environment and from a docker context).
//!
//! The cache test removes build-cache records from the shared engine: only the records that
//! appeared while it ran (its own, and any another build made at the same moment, which that
//! build then recomputes), selected by id; records in use are never removed.

use crate::docker::{assert_serves_and_stops, docker, docker_ok, free_port};
use crate::engine::{
    build, compiled_in_step, fresh_checkout, generated, generated_with_own_mount, printed_digest,
    registry_digest, unique, Untag,
};
use crate::harness::Run;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engine's build-cache records: (id, description); a line that does not start with an id
/// (a description running over several lines) is skipped.
fn build_cache() -> Vec<(String, String)> {
    docker_ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .BuildCache}}{{.ID}} {{.Description}}\n{{end}}",
    ])
    .lines()
    .filter_map(|l| {
        let (id, description) = l.split_once(' ').unwrap_or((l, ""));
        let id = id.trim_end_matches('*');
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| (id.to_string(), description.to_string()))
    })
    .collect()
}

/// The ids of the engine's build-cache records.
fn build_cache_ids() -> BTreeSet<String> {
    build_cache().into_iter().map(|(id, _)| id).collect()
}

/// Removes the build-cache records `ids` (those not in use).
fn prune(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    docker_ok(&[
        "builder",
        "prune",
        "-f",
        "--filter",
        &format!("id=^({})$", ids.join("|")),
    ]);
}

/// Removes the build-cache records that are not in `before` (and not in use).
fn prune_cache_since(before: &BTreeSet<String>) {
    let new: Vec<String> = build_cache_ids().difference(before).cloned().collect();
    prune(&new);
}

/// Removes the shared Cargo home cache mount (`id=imggen-cargo-home`, a record "cached mount
/// /usr/local/cargo-home from exec ...") when no build holds it, as on a fresh runner; a build
/// of another test may fill it again at once, never wrongly.
fn prune_cargo_home() {
    let ids: Vec<String> = build_cache()
        .into_iter()
        .filter(|(_, d)| d.starts_with("cached mount /usr/local/cargo-home from "))
        .map(|(id, _)| id)
        .collect();
    prune(&ids);
}

/// The number of the plain-progress step whose name contains `text` (its first one).
fn step_number(run: &Run, text: &str) -> String {
    run.stderr
        .lines()
        .find(|l| l.starts_with('#') && !l.contains(" | ") && l.contains(text))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step `{text}` in:\n{}", run.stderr))
        .to_string()
}

/// How the step `number` (e.g. `#13`) ended: every `CACHED` or `DONE` line of it.
fn outcomes(run: &Run, number: &str) -> Vec<String> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{number} ")))
        .filter(|rest| rest.starts_with("CACHED") || rest.starts_with("DONE"))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

const COOK: &str = "cargo chef cook --release";
const COMPILE: &str = "find . -path ./target";

/// The lines the plain-progress step `number` printed.
fn step_output<'a>(run: &'a Run, number: &str) -> Vec<&'a str> {
    let prefix = format!("{number} ");
    run.stderr
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

#[test]
fn a_pushed_cache_image_makes_a_clean_rebuild_reuse_the_compiled_dependencies() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_pruned();
    let id = unique("cache");
    let repo = format!("imggen-test/ci-{id}");
    let image = |tag: &str| format!("127.0.0.1:5000/{repo}:{tag}");
    let cache = image("buildcache");
    let _untag = Untag(
        ["1", "2", "3", "buildcache", "buildcache-target"]
            .map(image)
            .to_vec(),
    );
    // A feature of its own gives this project a cargo-chef recipe no other build has, so its
    // dependency layers can only come from this test's own builds or its cache image; an image
    // name of its own gives it a target cache mount of its own, which the clean machine loses.
    let t = generated_with_own_mount("axum-single", &format!("ci-{id}"));
    let manifest = t.read("Cargo.toml") + &format!("\n[features]\nci-{id} = []\n");
    let t = t.write("Cargo.toml", &manifest);
    let before = build_cache_ids();

    let (t, run) = build(t, &["--tag", &image("1"), "--push", "--cache-to", &cache]);
    run.code(0)
        .stderr_has(&format!("building the cache image {cache} (stage builder)"))
        .stderr_has(&format!("pushed the cache image {cache} (sha256:"))
        .stderr_has(&format!(
            "pushed the previous-build image {cache}-target (sha256:"
        ));
    assert_eq!(
        outcomes(&run, &step_number(&run, COOK))[0],
        "DONE",
        "{}",
        run.stderr
    );

    // A clean machine: no local image, no build cache of this project; the source changed,
    // the dependencies did not.
    for tag in ["1", "buildcache"] {
        docker_ok(&["image", "rm", &image(tag)]);
    }
    prune_cache_since(&before);
    prune_cargo_home();
    let source = t.read("src/main.rs") + "\n// a change to the service, not its dependencies\n";
    let t = t.write("src/main.rs", &source);
    let github = tempfile::tempdir().unwrap();
    let output = github.path().join("output");
    let summary = github.path().join("summary.md");
    let workspace = t.path().parent().unwrap().to_str().unwrap().to_string();
    let t = t
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output.to_str().unwrap())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .env("GITHUB_WORKSPACE", &workspace);
    let started = Instant::now();
    let (t, run) = build(
        t,
        &[
            "--tag",
            &image("2"),
            "--push",
            "--cache-from",
            &cache,
            "--cache-to",
            &cache,
        ],
    );
    let rebuild = started.elapsed();
    run.code(0)
        .stderr_has(&format!("importing cache manifest from {cache}"));
    assert_eq!(
        outcomes(&run, &step_number(&run, COOK))[0],
        "CACHED",
        "the dependency step was rebuilt:\n{}",
        run.stderr
    );
    let compile = step_number(&run, COMPILE);
    assert_eq!(
        outcomes(&run, &compile)[0],
        "DONE",
        "the changed service was not compiled:\n{}",
        run.stderr
    );
    // The empty target mount starts from the cook layer's compiled dependencies, and the empty
    // Cargo home from its crates and index entries: nothing is fetched.
    let lines = step_output(&run, &compile);
    let fetched: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("Downloaded ") || l.contains("Updating "))
        .collect();
    assert!(
        fetched.is_empty(),
        "the build fetched what the cook layer holds: {fetched:#?}\n{}",
        run.stderr
    );
    let compiled: Vec<&str> = lines
        .into_iter()
        .filter(|l| l.contains("Compiling "))
        .collect();
    assert!(
        compiled.len() == 1 && compiled[0].contains("Compiling hello-axum "),
        "the build compiled more than the service: {compiled:#?}\n{}",
        run.stderr
    );
    eprintln!("rebuild with a changed source and the cache image: {rebuild:?}");

    // The step outputs and summary of a real push.
    let digest = printed_digest(&run, &image("2"));
    assert_eq!(digest, registry_digest("127.0.0.1:5000", &repo, "2", None));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("digest={digest}\nimage=127.0.0.1:5000/{repo}@{digest}\n")
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    for part in [
        format!("### imggen build: `127.0.0.1:5000/{repo}`\n"),
        format!("| Image | `127.0.0.1:5000/{repo}@{digest}` |\n"),
        format!("| Tags | `{}` |\n", image("2")),
        format!("| Digest | `{digest}` |\n"),
        "| Size | ".to_string(),
        "| Build time | ".to_string(),
    ] {
        assert!(text.contains(&part), "{part} not in:\n{text}");
    }
    assert_eq!(text.matches("### imggen build").count(), 1, "{text}");

    // An unchanged rebuild on another fresh runner (the deploy of the pushed commit): the
    // dependencies come from the cache image and the build step starts from the previous build
    // pushed beside it, so nothing compiles; the image runs.
    for tag in ["2", "buildcache", "buildcache-target"] {
        docker_ok(&["image", "rm", &image(tag)]);
    }
    prune_cache_since(&before);
    prune_cargo_home();
    let (_, run) = build(
        t.clear_env(),
        &["--tag", &image("3"), "--cache-from", &cache],
    );
    run.code(0)
        .stderr_has(&format!("previous build: {cache}-target ("));
    assert_eq!(
        outcomes(&run, &step_number(&run, COOK)),
        ["CACHED"],
        "the dependency step was not taken from the cache image:\n{}",
        run.stderr
    );
    assert_eq!(
        compiled_in_step(&run, COMPILE),
        Vec::<String>::new(),
        "{}",
        run.stderr
    );
    assert_serves_and_stops(&image("3"), "/health");
}

/// A fresh runner (no image, no build cache, no cargo home) with a fresh checkout of a
/// workspace whose binary crate changed: the previous build's target/, pushed beside the cache
/// image, makes the build compile that crate only, not the library it uses.
#[test]
fn a_previous_build_beside_the_cache_image_makes_a_fresh_runner_compile_only_the_changed_crate() {
    if !crate::harness::engine() {
        return;
    }
    let _cache = crate::harness::cache_pruned();
    let id = unique("prev");
    let repo = format!("imggen-test/ci-{id}");
    let image = |tag: &str| format!("127.0.0.1:5000/{repo}:{tag}");
    let cache = image("buildcache");
    let previous = image("buildcache-target");
    let _untag = Untag(vec![
        image("1"),
        image("2"),
        cache.clone(),
        previous.clone(),
    ]);
    let t = generated_with_own_mount("workspace", &format!("ci-{id}"));
    let manifest = t.read("crates/api/Cargo.toml") + &format!("\n[features]\nci-{id} = []\n");
    let t = t.write("crates/api/Cargo.toml", &manifest);
    let before = build_cache_ids();
    let (t, run) = build(t, &["--tag", &image("1"), "--push", "--cache-to", &cache]);
    run.code(0).stderr_has(&format!(
        "pushed the previous-build image {previous} (sha256:"
    ));
    let mut built = compiled_in_step(&run, COMPILE);
    built.sort();
    assert_eq!(built, ["api", "shared"]);

    for r in [image("1"), cache.clone(), previous.clone()] {
        docker_ok(&["image", "rm", &r]);
    }
    prune_cache_since(&before);
    prune_cargo_home();
    fresh_checkout(t.path());
    let source = t.read("crates/api/src/main.rs") + "\n// a change to the service only\n";
    let t = t.write("crates/api/src/main.rs", &source);
    let (_, run) = build(t, &["--tag", &image("2"), "--cache-from", &cache]);
    run.code(0)
        .stderr_has(&format!("previous build: {previous} ("));
    assert_eq!(
        outcomes(&run, &step_number(&run, COOK))[0],
        "CACHED",
        "the dependency step was rebuilt:\n{}",
        run.stderr
    );
    assert_eq!(compiled_in_step(&run, COMPILE), ["api"], "{}", run.stderr);
    let port = free_port();
    let c = crate::docker::run_container(&image("2"), port);
    let got = crate::docker::http_get(port, "/api/hello", Duration::from_secs(30));
    assert_eq!(got.map(|g| g.1), Some("hello".to_string()));
    drop(c);
}

#[test]
fn github_actions_annotates_a_compile_error_at_its_repository_path() {
    if !crate::harness::engine() {
        return;
    }
    let t = generated("broken");
    let github = tempfile::tempdir().unwrap();
    let output = github.path().join("output");
    let workspace = t.path().parent().unwrap().to_path_buf();
    let dir = t.path().file_name().unwrap().to_str().unwrap().to_string();
    let t = t
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output.to_str().unwrap())
        .env("GITHUB_WORKSPACE", workspace.to_str().unwrap());
    let (t, run) = build(t, &["--tag", "imggen-test/ci-broken:1"]);
    run.code(1).stderr_has("error[E0308]: mismatched types");
    assert_eq!(
        run.stdout,
        format!(
            "::error file={dir}/src/main.rs,line=2,col=18,title=error[E0308]::mismatched types\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!output.exists(), "a failed build wrote step outputs");

    // Outside GitHub Actions, no workflow commands.
    let (_, run) = build(t.clear_env(), &["--tag", "imggen-test/ci-broken:1"]);
    run.code(1);
    assert_eq!(run.stdout, "");
}

/// nginx (its stream module) serving the engine's socket on a loopback TLS port that demands
/// a client certificate signed by the test's CA; stopped on drop. (socat cannot serve a
/// client that resumes TLS 1.3 sessions, as rustls does, while it verifies clients.)
struct TlsEngine {
    child: Child,
    port: u16,
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (.ci/validators.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`:
/// ca.pem, server-cert.pem, server-key.pem, cert.pem, key.pem.
fn make_certificates(dir: &Path, name: &str) {
    let days = ["-days", "2"];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-subj",
            &format!("/CN={name} test CA"),
            days[0],
            days[1],
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, cn) in [("server", "127.0.0.1"), ("client", "imggen")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{who}-cert.pem"),
                "-extfile",
                &format!("{who}.ext"),
                days[0],
                days[1],
            ],
        );
    }
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}

/// Serves the engine (its unix socket from DOCKER_HOST, else the default) over TLS.
fn tls_engine(certs: &Path) -> TlsEngine {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let port = free_port();
    let dir = certs.display();
    let config = certs.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
             daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{}}\nstream {{\n  server {{\n    listen 127.0.0.1:{port} ssl;\n\
             ssl_certificate {dir}/server-cert.pem;\n    ssl_certificate_key {dir}/server-key.pem;\n\
             ssl_client_certificate {dir}/ca.pem;\n    ssl_verify_client on;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n    proxy_pass unix:{socket};\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .args([
            "-e",
            &format!("{dir}/error.log"),
            "-p",
            &dir.to_string(),
            "-c",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (.ci/validators.sh installs it and its stream module)");
    let mut engine = TlsEngine { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = engine.child.try_wait().unwrap();
        assert!(
            exited.is_none() && start.elapsed() < Duration::from_secs(10),
            "nginx did not listen on {port} ({exited:?}): {}",
            std::fs::read_to_string(certs.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    engine
}

#[test]
fn builds_on_an_engine_behind_tls_from_the_environment_and_from_a_docker_context() {
    if !(crate::harness::engine() && crate::harness::tools(&["openssl", "nginx"])) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path(), "imggen");
    let engine = tls_engine(certs.path());
    let host = format!("tcp://127.0.0.1:{}", engine.port);
    let tag = format!("imggen-test/ci-tls:{}", unique("t"));
    let _untag = Untag(vec![tag.clone()]);

    // DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as for the docker CLI.
    let t = generated("axum-single")
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs.path().to_str().unwrap());
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0)
        .stderr_has(&format!(", {host})"))
        .stdout_has(&format!("{tag}\n"));
    docker_ok(&["image", "inspect", &tag]);

    // The engine checks the client certificate: one from another CA is refused.
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path(), "other");
    let (t, run) = build(
        t.env("DOCKER_CERT_PATH", other.path().to_str().unwrap()),
        &["--tag", &tag],
    );
    run.code(2)
        .one_error_line()
        .stderr_has(&format!("the engine at {host} refused the TLS connection"));

    // The current context of $DOCKER_CONFIG/config.json, its TLS files beside it.
    let config = tempfile::tempdir().unwrap();
    let id = imggen::build::endpoint::context_dir_name("imggen-tls");
    let meta = config.path().join("contexts/meta").join(&id);
    let tls = config.path().join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(r#"{{"Name":"imggen-tls","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
    )
    .unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(certs.path().join(f), tls.join(f)).unwrap();
    }
    std::fs::write(
        config.path().join("config.json"),
        r#"{"currentContext": "imggen-tls"}"#,
    )
    .unwrap();
    let docker_config = config.path().to_str().unwrap();
    // The docker CLI agrees on where the context points.
    let out = docker()
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("DOCKER_HOST")
        .args([
            "context",
            "inspect",
            "--format",
            "{{.Endpoints.docker.Host}}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), host);
    let t = t
        .clear_env()
        .env("DOCKER_HOST", "")
        .env("DOCKER_CONFIG", docker_config);
    let (t, run) = build(t, &["--tag", &tag]);
    run.code(0).stderr_has(", context imggen-tls)");

    // DOCKER_CONTEXT names a context that is not there.
    let (_, run) = build(t.env("DOCKER_CONTEXT", "gone"), &["--tag", &tag]);
    run.code(2)
        .one_error_line()
        .stderr_has("DOCKER_CONTEXT names the docker context gone, which does not exist");
}

#[test]
fn a_push_to_a_registry_that_never_answers_ends_at_the_push_timeout() {
    if !crate::harness::engine() {
        return;
    }
    // A "registry" that accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let tag = format!("127.0.0.1:{port}/imggen-test/ci-hang:{}", unique("t"));
    let _untag = Untag(vec![tag.clone()]);
    let (t, run) = build(
        generated("axum-single"),
        &["--tag", &tag, "--push", "--push-timeout", "3s"],
    );
    run.code(2);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(
        errors,
        [format!("error: pushing {tag} did not finish within 3s (--push-timeout); check that 127.0.0.1:{port} is reachable and not overloaded, or raise --push-timeout")],
        "{}",
        run.stderr
    );
    let (_, run) = build(t, &["--tag", &tag, "--push", "--push-timeout", "soon"]);
    run.code(2)
        .one_error_line()
        .stderr_has("--push-timeout soon is not a duration");
}

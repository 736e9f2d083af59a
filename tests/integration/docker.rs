//! Real-engine acceptance tests for the generated Dockerfile: the docker CLI builds
//! it, the container answers HTTP, stops at once and runs as non-root. The engine and the
//! seeded base images come from `.ci/run` (see the README); without them these tests are skipped, and fail when `CI` is set.

use crate::harness::Test;
use std::process::Command;
use std::time::{Duration, Instant};

/// Debian's client matches the 20.10 engine; a newer client may lack the buildx plugin.
pub fn docker() -> Command {
    let bin = if std::path::Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    Command::new(bin)
}

/// Runs a docker command and returns stdout, panicking with its output on failure.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker()
        .args(args)
        .output()
        .expect("the docker client is installed");
    assert!(
        out.status.success(),
        "docker {} failed (is the engine running? `.ci/run` starts it):\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `path` on 127.0.0.1:`port` until it answers (or `timeout`); returns status and body.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if let Some(code) = buf.split(' ').nth(1).and_then(|c| c.parse().ok()) {
                    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
                    return Some((code, body));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A running container, removed on drop.
pub struct Container(pub String);

/// What "stops on the signal" means in a test: far under the engine's 10 s grace period, with
/// room for a machine busy compiling; how fast it stops (tens of milliseconds) is measured
/// by `just bench`, not asserted here.
pub const STOP_WITHIN: Duration = Duration::from_secs(2);

/// How long `docker stop` takes on a running container that serves `path` on `port`: the best
/// of up to three stops, the container started again in between. Load on the machine cannot
/// fail a process that handles the stop signal, while one that ignores it takes the engine's
/// 10 s grace period every time.
pub fn stop_time(container: &str, port: u16, path: &str, limit: Duration) -> Duration {
    let mut best = Duration::MAX;
    for attempt in 0..3 {
        if attempt > 0 {
            docker_ok(&["start", container]);
            let _ = http_get(port, path, Duration::from_secs(30));
        }
        let start = Instant::now();
        docker_ok(&["stop", container]);
        best = best.min(start.elapsed());
        if best < limit {
            break;
        }
    }
    best
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker().args(["rm", "-f", &self.0]).output();
    }
}

/// Runs `image` with host networking and PORT set; returns the container.
pub fn run_container(image: &str, port: u16) -> Container {
    let id = docker_ok(&[
        "run",
        "-d",
        "--network",
        "host",
        "-e",
        &format!("PORT={port}"),
        image,
    ]);
    Container(id.trim().to_string())
}

/// The uid of the container's main process, read from the host's /proc.
fn process_uid(container: &str) -> u32 {
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", container]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("a Uid line")
}

/// Runs `image` on the host network with PORT set; asserts `path` answers 200, the image's
/// USER is numeric and non-root, the process runs with that uid, and it stops on `docker stop`
/// (within [`STOP_WITHIN`]). Returns the container's process list (`docker top`) taken while it ran.
pub fn assert_serves_and_stops(image: &str, path: &str) -> String {
    let port = free_port();
    let c = run_container(image, port);
    let got = http_get(port, path, Duration::from_secs(30));
    let logs = docker()
        .args(["logs", &c.0])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    assert_eq!(
        got.as_ref().map(|g| g.0),
        Some(200),
        "{image} on {path}: {got:?}; logs: {logs:?}"
    );
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", image]);
    let uid: u32 = user
        .trim()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{image}: USER {user:?} is not numeric"));
    assert_ne!(uid, 0, "{image} is configured to run as root");
    assert_eq!(
        process_uid(&c.0),
        uid,
        "{image}: the process runs as another uid"
    );
    let top = docker_ok(&["top", &c.0]);
    let took = stop_time(&c.0, port, path, STOP_WITHIN);
    assert!(took < STOP_WITHIN, "docker stop of {image} took {took:?}");
    top
}

/// Generates the files for a fixture copy and builds it with the docker CLI: with BuildKit, the
/// default Dockerfile; with the classic builder, the one `cache_mounts = false` writes for it.
fn build(fixture: &str, tag: &str, buildkit: bool, extra_config: &str) -> Test {
    let t = Test::fixture(fixture);
    // Top-level keys go before any table of the fixture's own imggen.toml.
    let classic = if buildkit {
        ""
    } else {
        "cache_mounts = false\n"
    };
    let t = if classic.is_empty() && extra_config.is_empty() {
        t
    } else {
        let base = std::fs::read_to_string(t.path().join("imggen.toml"))
            .unwrap_or_else(|_| "version = 1\n".into());
        t.write("imggen.toml", &format!("{classic}{base}{extra_config}"))
    };
    let t = t.args(&["generate"]);
    t.run().code(0);
    let out = docker()
        .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
        .args(["build", "--network", "host", "-t", tag, "."])
        .current_dir(t.path())
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker build of {fixture} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

#[test]
fn axum_fixture_builds_with_the_classic_builder_and_serves() {
    if !crate::harness::engine() {
        return;
    }
    build("axum-single", "imggen-test/axum:classic", false, "");
    assert_serves_and_stops("imggen-test/axum:classic", "/health");
    let size: u64 = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Size}}",
        "imggen-test/axum:classic",
    ])
    .trim()
    .parse()
    .unwrap();
    let base: u64 = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Size}}",
        "debian:bookworm-slim",
    ])
    .trim()
    .parse()
    .unwrap();
    let binary = binary_bytes("imggen-test/axum:classic", "/usr/local/bin/hello-axum");
    assert!(
        size - base < binary + 1_000_000,
        "image adds {} bytes over its base for a {binary}-byte binary (goal: binary + 1 MB)",
        size - base
    );
}

/// Size of the file at `path` in `image` (a tar of it, so a few hundred bytes more).
fn binary_bytes(image: &str, path: &str) -> u64 {
    let created = Container(docker_ok(&["create", image]).trim().to_string());
    let out = docker()
        .args(["cp", &format!("{}:{path}", created.0), "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker cp {image}:{path}");
    out.stdout.len() as u64
}

#[test]
fn axum_fixture_builds_with_buildkit_and_the_default_dockerfile() {
    if !crate::harness::engine() {
        return;
    }
    build("axum-single", "imggen-test/axum:buildkit", true, "");
    assert_serves_and_stops("imggen-test/axum:buildkit", "/health");
}

#[test]
fn workspace_fixture_runs_the_chosen_binary() {
    if !crate::harness::engine() {
        return;
    }
    build("workspace", "imggen-test/workspace:classic", false, "");
    let entry = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Entrypoint}}",
        "imggen-test/workspace:classic",
    ]);
    assert_eq!(
        entry.trim(),
        r#"["/usr/bin/tini","--","/usr/local/bin/api"]"#
    );
    assert_serves_and_stops("imggen-test/workspace:classic", "/healthz");
}

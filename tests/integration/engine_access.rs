//! The engine addresses the README promises besides the default socket: `DOCKER_HOST=tcp://`
//! (the test engine exposed on a loopback port by socat) and a Podman API socket. socat and
//! podman come from `.ci/validators.sh`.

use crate::docker::{docker, docker_ok, free_port};
use crate::harness::Test;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process this test started, killed (by its own id) and reaped on drop.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args`, panicking with a hint when it is not installed.
fn spawn(program: &str, args: &[&str]) -> Background {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (.ci/validators.sh): {e}"));
    Background(child)
}

/// Waits until `ready` holds, for at most `timeout`.
fn wait_for(what: &str, timeout: Duration, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `imggen build` of the zero2prod fixture (no dependencies) tagged `tag`, against `host`.
fn build_against(host: &str, tag: &str) -> Test {
    let t = Test::fixture("zero2prod").args(&["generate"]);
    t.run().code(0);
    let t = t.env("DOCKER_HOST", host).args(&[
        "build",
        "--progress",
        "plain",
        "--network",
        "host",
        "--tag",
        tag,
    ]);
    t.run().code(0);
    t
}

#[test]
fn build_through_a_tcp_engine_address() {
    if !crate::harness::engine() {
        return;
    }
    let port = free_port();
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(String::from))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let _socat = spawn(
        "socat",
        &[
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"),
            &format!("UNIX-CONNECT:{socket}"),
        ],
    );
    wait_for("socat", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let tag = format!("imggen-test/tcp-engine:{}", std::process::id());
    build_against(&format!("tcp://127.0.0.1:{port}"), &tag);
    let entry = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Entrypoint}}",
        &tag,
    ]);
    let _ = docker().args(["rmi", &tag]).output();
    assert!(entry.contains("/usr/local/bin/newsletter"), "{entry}");
}

/// Copies every base image `dockerfile` names from the Docker engine into Podman's storage
/// under its fully qualified name (nothing can be pulled on the CI machines).
fn seed_podman(dockerfile: &str) {
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    for image in dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|i| !stages.contains(i) && *i != "scratch" && !i.starts_with('$'))
    {
        let qualified = match image.split_once('/') {
            Some((host, _)) if host.contains('.') || host.contains(':') => image.to_string(),
            Some(_) => format!("docker.io/{image}"),
            None => format!("docker.io/library/{image}"),
        };
        let exists = Command::new("podman")
            .args(["image", "exists", &qualified])
            .status()
            .is_ok_and(|s| s.success());
        if exists {
            continue;
        }
        let mut save = docker()
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("podman")
            .args(["load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .expect("podman must be installed (.ci/validators.sh)");
        assert!(save.wait().unwrap().success(), "docker save {image}");
        let loaded = String::from_utf8_lossy(&load.stdout);
        let name = loaded
            .lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("podman load of {image}: {loaded}"))
            .trim()
            .to_string();
        let tagged = Command::new("podman")
            .args(["tag", &name, &qualified])
            .status()
            .unwrap();
        assert!(tagged.success(), "podman tag {name} {qualified}");
    }
}

#[test]
fn build_through_a_podman_socket() {
    if !(crate::harness::engine() && crate::harness::tools(&["podman"])) {
        return;
    }
    let sock = std::env::temp_dir().join(format!("podman-imggen-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let address = format!("unix://{}", sock.display());
    let _service = spawn("podman", &["system", "service", "--time=0", &address]);
    wait_for("podman system service", Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let tag = format!("imggen-test/podman-engine:{}", std::process::id());
    let t = Test::fixture("zero2prod").args(&["generate"]);
    t.run().code(0);
    seed_podman(&t.read("Dockerfile"));
    // The default Dockerfile's cache mounts are refused there, naming the setting that drops them.
    let t = t.env("DOCKER_HOST", &address).args(&[
        "build",
        "--network",
        "host",
        "--tag",
        "imggen-test/podman-engine:never",
    ]);
    t.run()
        .code(2)
        .one_error_line()
        .stderr_has("set cache_mounts = false");
    let t = crate::engine::regenerated_classic(t);
    let run = t
        .env("DOCKER_HOST", &address)
        .args(&[
            "build",
            "--progress",
            "plain",
            "--network",
            "host",
            "--tag",
            &tag,
        ])
        .run();
    run.code(0).stderr_has("on Podman");
    let inspect = Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}",
            &tag,
        ])
        .output()
        .unwrap();
    let _ = Command::new("podman").args(["rmi", &tag]).output();
    let _ = Command::new("podman")
        .args(["image", "prune", "-f"])
        .output();
    let _ = std::fs::remove_file(&sock);
    let entry = String::from_utf8_lossy(&inspect.stdout);
    assert!(entry.contains("/usr/local/bin/newsletter"), "{entry}");
}

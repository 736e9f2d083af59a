//! `imggen bundle`: the VM release bundle of the spa fixture (static musl), built twice from two
//! directories to the same bytes, checked with `sha256sum -c`, unpacked into a root where
//! `systemd-analyze verify` checks the unit with the real binary at its ExecStart, and the
//! binary run as the unit runs it (its Environment and EnvironmentFile, WorkingDirectory, a
//! non-root uid) and probed over HTTP.

use crate::docker::{free_port, http_get};
use crate::harness::{locate, Test};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BUNDLE: &str = "target/imggen/spa-app-0.1.0-x86_64-unknown-linux-musl.tar.gz";

/// The spa fixture with a run-time directory (so the unit has a WorkingDirectory), bundled.
fn bundled() -> Test {
    let test = Test::fixture("spa")
        .write(
            "imggen.toml",
            "version = 1\ninclude = [\"config\"]\n\n[vm]\nstatic_dir = \"frontend/dist\"\n",
        )
        .write("config/app.toml", "greeting = \"hello\"\n")
        .write("config/server.key", "not for the server")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(&["bundle", "--platform", "vm", "--libc", "musl"]);
    let run = test.run();
    run.code(0)
        .stdout_has("spa-app-0.1.0-x86_64-unknown-linux-musl.tar.gz");
    test
}

/// Runs a tool, asserting it succeeds; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The values of `key=` lines of a unit's text, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

/// A path of the unit (absolute on the server) inside the unpacked root.
fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Kills the started binary when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn vm_bundle_is_reproducible_verifies_and_serves_under_the_units_settings() {
    if !crate::harness::tools(&["systemd-analyze", "sha256sum", "tar"]) {
        return;
    }
    let a = bundled();
    let b = bundled();
    assert_ne!(a.path(), b.path());
    let bytes = std::fs::read(a.path().join(BUNDLE)).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(b.path().join(BUNDLE)).unwrap(),
        "two bundles of the same sources differ"
    );
    let sums = format!("{BUNDLE}.sha256");
    assert_eq!(a.read(&sums), b.read(&sums));

    // The checksum file is sha256sum's own format, next to the bundle.
    let out_dir = a.path().join("target/imggen");
    let checked = ok(Command::new("sha256sum")
        .args([
            "-c",
            "spa-app-0.1.0-x86_64-unknown-linux-musl.tar.gz.sha256",
        ])
        .current_dir(&out_dir));
    assert!(checked.contains(": OK"), "{checked}");

    // Unpacked as the README says, into a root the unprivileged user can traverse.
    let root = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(a.path().join(BUNDLE))
        .arg("-C")
        .arg(root.path())
        .arg("--no-overwrite-dir"));
    let unit_path = root.path().join("etc/systemd/system/spa-app.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(exec, ["/usr/local/bin/spa-app"]);
    let binary = at(root.path(), &exec[0]);
    let mode = std::fs::metadata(&binary).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let file = ok(Command::new("file").arg(&binary));
    assert!(
        file.contains("statically linked") || file.contains("static-pie"),
        "{file}"
    );
    let work_dir = unit_values(&unit, "WorkingDirectory");
    assert_eq!(work_dir, ["/opt/spa-app"]);
    let work_dir = at(root.path(), &work_dir[0]);
    assert_eq!(
        std::fs::read_to_string(work_dir.join("config/app.toml")).unwrap(),
        "greeting = \"hello\"\n"
    );
    assert!(
        !work_dir.join("config/server.key").exists(),
        "a secret-looking file was bundled"
    );
    assert!(root.path().join("etc/caddy/Caddyfile").is_file());
    assert!(root.path().join("var/www/spa-app/index.html").is_file());
    assert!(root
        .path()
        .join("var/www/spa-app/assets/app.3f9a1c.js")
        .is_file());
    let caddy = std::fs::read_to_string(root.path().join("etc/caddy/Caddyfile")).unwrap();
    assert!(caddy.contains("root * /var/www/spa-app"), "{caddy}");

    // systemd checks the unit as installed, with the real binary at ExecStart.
    let units = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for entry in std::fs::read_dir("/usr/lib/systemd/system").unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let to = units.join(entry.file_name());
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), to).unwrap();
        } else if meta.is_file() {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("spa-app.service")
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Run it as the unit does: Environment=, then EnvironmentFile= (which wins) moving it to a
    // free port, in WorkingDirectory, as nobody when this runs as root.
    let env_file = unit_values(&unit, "EnvironmentFile");
    assert_eq!(env_file, ["-/etc/spa-app/env"]);
    let env_file = at(root.path(), env_file[0].trim_start_matches('-'));
    let port = free_port();
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(&env_file, format!("PORT={port}\n")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let from_file = std::fs::read_to_string(&env_file).unwrap();
    for line in unit_values(&unit, "Environment")
        .iter()
        .map(|v| v.trim_matches('"').to_string())
        .chain(from_file.lines().map(str::to_string))
    {
        let (k, v) = line.split_once('=').unwrap();
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    assert!(
        unit_values(&unit, "Environment")
            .iter()
            .any(|e| e.trim_matches('"').starts_with("PORT=")),
        "the unit sets no PORT: {unit}"
    );
    let setpriv = locate("setpriv");
    let as_root = ok(Command::new("id").arg("-u")).trim() == "0";
    let mut cmd = if as_root && setpriv.is_file() {
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    cmd.current_dir(&work_dir)
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _running = Running(cmd.spawn().unwrap());
    let health = http_get(port, "/health", Duration::from_secs(15));
    assert_eq!(health, Some((200, "ok".to_string())));
    let api = http_get(port, "/api/hello", Duration::from_secs(5));
    assert_eq!(api, Some((200, "hello".to_string())));
}

#[test]
fn a_bundle_needs_the_vm_platform() {
    let test = Test::fixture("spa").args(&["bundle"]);
    test.run()
        .code(2)
        .one_error_line()
        .stderr_has("pass --platform vm");
    assert!(!test.path().join("target").exists(), "it compiled anyway");
}

#[test]
fn a_missing_frontend_stops_the_bundle_before_compiling() {
    let test = Test::fixture("spa").args(&["bundle", "--platform", "vm"]);
    std::fs::remove_dir_all(test.path().join("frontend/dist")).unwrap();
    let run = test.run();
    run.code(2)
        .one_error_line()
        .stderr_has("static_dir = \"frontend/dist\" is not a directory");
    assert!(!test.path().join("target").exists(), "it compiled anyway");
}

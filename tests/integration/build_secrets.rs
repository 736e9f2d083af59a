//! Build secrets on the real engine: a private git dependency served on loopback behind basic
//! authentication is fetched with a git-credentials file passed as `--secret`, and no byte of it
//! is in the image, the builder's layers or their history.

use crate::harness::Test;
use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The port in the fixture's Cargo.toml and Cargo.lock.
const PORT: u16 = 47391;

/// Builds the private repository the fixture's Cargo.lock pins (fixed author and dates give the
/// locked commit) as a bare repository served by git's dumb HTTP protocol.
fn private_repo(dir: &Path) -> PathBuf {
    let work = dir.join("work");
    std::fs::create_dir_all(work.join("src")).unwrap();
    std::fs::write(
        work.join("Cargo.toml"),
        "[package]\nname = \"privdep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .unwrap();
    std::fs::write(
        work.join("src/lib.rs"),
        "pub fn greeting() -> &'static str {\n    \"hello from a private repository\"\n}\n",
    )
    .unwrap();
    let git = |args: &[&str], cwd: &Path| {
        let out = Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_AUTHOR_NAME", "imggen")
            .env("GIT_AUTHOR_EMAIL", "imggen@example.invalid")
            .env("GIT_COMMITTER_NAME", "imggen")
            .env("GIT_COMMITTER_EMAIL", "imggen@example.invalid")
            .env("GIT_AUTHOR_DATE", "2025-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2025-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"], &work);
    git(&["add", "Cargo.toml", "src/lib.rs"], &work);
    git(
        &["-c", "commit.gpgsign=false", "commit", "-qm", "privdep"],
        &work,
    );
    assert_eq!(
        git(&["rev-parse", "HEAD"], &work),
        "a1d5ab5424b3a84f08c7307435237f0c712fd823",
        "the commit the fixture's Cargo.lock pins"
    );
    let bare = dir.join("privdep.git");
    git(
        &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
        &work,
    );
    git(&["update-server-info"], &bare);
    bare
}

/// Requests answered with a file, and requests refused for want of credentials.
#[derive(Default)]
struct Counts {
    served: AtomicUsize,
    refused: AtomicUsize,
}

/// Serves `bare` at `/privdep.git/` on loopback, to requests carrying `authorization` only.
fn serve(bare: PathBuf, authorization: String) -> Arc<Counts> {
    let listener = TcpListener::bind(("127.0.0.1", PORT)).expect("the fixture's port is free");
    let counts = Arc::new(Counts::default());
    let seen = counts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut authorized = false;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") && value.trim() == authorization {
                        authorized = true;
                    }
                }
            }
            let rel = path.split('?').next().unwrap_or_default();
            let file = rel
                .strip_prefix("/privdep.git/")
                .filter(|r| !r.contains(".."))
                .map(|r| bare.join(r));
            let response = if !authorized {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"privdep\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            } else if let Some(body) = file.and_then(|f| std::fs::read(f).ok()) {
                seen.served.fetch_add(1, Ordering::SeqCst);
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend(body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    counts
}

/// All bytes `docker save` writes for `image`: every layer, the config and its history.
fn saved_bytes(image: &str) -> Vec<u8> {
    let out = crate::docker::docker()
        .args(["save", image])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker save {image}");
    let mut all = Vec::new();
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut layers = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry
            .path()
            .unwrap()
            .to_string_lossy()
            .ends_with("layer.tar")
        {
            layers += 1;
        }
        entry.read_to_end(&mut all).unwrap();
    }
    assert!(layers > 0, "docker save {image} held no layer");
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn private_git_dependency_is_fetched_with_a_build_secret_that_is_in_no_layer() {
    if !crate::harness::engine() {
        return;
    }
    let unique = format!(
        "{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let token = format!("tok{unique}").replace('-', "");
    let repo_dir = tempfile::tempdir().unwrap();
    let bare = private_repo(repo_dir.path());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("ci:{token}"));
    let counts = serve(bare, format!("Basic {basic}"));
    let credentials = repo_dir.path().join("git-credentials");
    std::fs::write(
        &credentials,
        format!("http://ci:{token}@127.0.0.1:{PORT}\n"),
    )
    .unwrap();

    let t = Test::fixture("private-git")
        .write(
            "imggen.toml",
            "version = 1\nsecrets = [\"git-credentials\"]\n",
        )
        .args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(
        dockerfile.contains(
            "sharing=locked \\\n    --mount=type=secret,id=git-credentials,required=true \\\n    GIT_CONFIG_COUNT=1"
        ) && dockerfile.contains("cargo chef cook"),
        "{dockerfile}"
    );
    assert!(!contains(dockerfile.as_bytes(), token.as_bytes()));

    let imggen = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imggen"))
            // --no-cache: a cached fetch step would never ask the git server, so the test
            // could not tell whether the secret reached it.
            .args([
                "build",
                "--no-cache",
                "--progress",
                "plain",
                "--network",
                "host",
            ])
            .args(args)
            .current_dir(t.path())
            .env_remove("IMGGEN_BIN")
            .output()
            .unwrap()
    };
    let refused = imggen(&["--tag", "imggen-test/private-git:never"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("pass --secret id=git-credentials,src=PATH"),
        "{refused:?}"
    );

    let secret = format!("id=git-credentials,src={}", credentials.display());
    let final_tag = format!("imggen-test/private-git:{unique}");
    let builder_tag = format!("imggen-test/private-git-builder:{unique}");
    for args in [
        vec!["--tag", final_tag.as_str(), "--secret", secret.as_str()],
        vec![
            "--tag",
            builder_tag.as_str(),
            "--target",
            "builder",
            "--secret",
            secret.as_str(),
        ],
    ] {
        let run = imggen(&args);
        assert!(
            run.status.success(),
            "imggen build {args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    assert!(
        counts.refused.load(Ordering::SeqCst) > 0,
        "git asked without credentials first"
    );
    assert!(
        counts.served.load(Ordering::SeqCst) > 0,
        "the repository was fetched with them"
    );

    let out = crate::docker::docker()
        .args(["run", "--rm", "--network", "host", &final_tag])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from a private repository",
        "{out:?}"
    );
    for image in [&final_tag, &builder_tag] {
        let bytes = saved_bytes(image);
        assert!(
            !contains(&bytes, token.as_bytes()),
            "the token is in {image}"
        );
        assert!(
            !contains(&bytes, basic.as_bytes()),
            "the basic credentials are in {image}"
        );
        let history = crate::docker::docker()
            .args(["history", "--no-trunc", image])
            .output()
            .unwrap();
        assert!(
            !contains(&history.stdout, token.as_bytes()),
            "the token is in {image}'s history"
        );
    }
    for tag in [&final_tag, &builder_tag] {
        let _ = crate::docker::docker().args(["rmi", tag]).output();
    }
}

#[test]
fn ssh_agent_given_with_ssh_reaches_the_mounting_step_only() {
    if !crate::harness::engine() || !crate::harness::tools(&["ssh-agent", "ssh-add", "ssh-keygen"])
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let key = dir.path().join("key");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "imggen-test", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let add = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(add.status.success(), "{add:?}");
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();

    let t = Test::fixture("axum-single").args(&["generate"]);
    t.run().code(0);
    std::fs::write(
        t.path().join("Dockerfile"),
        "FROM lukemathwalker/cargo-chef:latest-rust-1.95.0-bookworm\nRUN --mount=type=ssh,required=true ssh-add -l > /agent-keys.txt\nRUN ssh-add -l > /after.txt 2>&1 || echo no-agent > /after.txt\n",
    )
    .unwrap();
    let tag = format!("imggen-test/ssh-agent:{}", std::process::id());
    let imggen = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imggen"))
            .args([
                "build",
                "--allow-dirty",
                // A cached step would show an earlier run's agent, not this one's.
                "--no-cache",
                "--progress",
                "plain",
                "--network",
                "host",
            ])
            .args(["--tag", &tag])
            .args(extra)
            .current_dir(t.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap()
    };
    let refused = imggen(&[]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --ssh default"));
    let unset = imggen(&["--ssh", "default"]);
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("SSH_AUTH_SOCK is not set"),
        "{unset:?}"
    );
    let ssh = format!("default={}", socket.display());
    let run = imggen(&["--ssh", &ssh]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let cat = |file: &str| {
        crate::docker::docker_ok(&[
            "run",
            "--rm",
            "--network",
            "host",
            "--entrypoint",
            "cat",
            &tag,
            file,
        ])
    };
    assert!(
        cat("/agent-keys.txt").contains(&fingerprint),
        "the mounting step saw the agent's key"
    );
    assert!(
        !cat("/after.txt").contains(&fingerprint),
        "a step without the mount sees no agent"
    );
    let _ = crate::docker::docker().args(["rmi", &tag]).output();
    let _ = agent.kill();
    let _ = agent.wait();
}

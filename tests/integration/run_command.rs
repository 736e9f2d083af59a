//! The image's run command and environment from the command line: `args` and `env` in every
//! configuration layer, their refusals (exit 2, one sentence naming the value and the fix), and
//! what a binary without a listener gets instead of an HTTP service.

use crate::harness::Test;

#[test]
fn args_come_from_the_file_the_environment_and_flags_in_that_order() {
    let t = Test::fixture("axum-single").write(
        "imggen.toml",
        "version = 1\nargs = [\"from-file\"]\n[env]\nREGION = \"eu\"\n",
    );
    let t = t.args(&["plan"]);
    t.run()
        .code(0)
        .stdout_has(" from-file\n")
        .stdout_has("(imggen.toml `args`)")
        .stdout_has(" REGION=eu\n");
    let t = t.env("IMGGEN_ARGS", "serve  --verbose");
    t.run()
        .code(0)
        .stdout_has(" serve --verbose\n")
        .stdout_has("(IMGGEN_ARGS)");
    let t = t.args(&[
        "plan",
        "--arg",
        "serve",
        "--arg",
        "--port=1",
        "--env",
        "MODE=fast",
    ]);
    t.run()
        .code(0)
        .stdout_has(" serve --port=1\n")
        .stdout_has("(--arg)")
        .stdout_has(" MODE=fast\n");
    let t = t.args(&["generate", "--arg", "serve", "--env", "MODE=a b"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(dockerfile.contains("\nENV MODE=\"a b\"\n"), "{dockerfile}");
    assert!(dockerfile.ends_with("\nCMD [\"serve\"]\n"), "{dockerfile}");
}

/// `init` writes `--arg` and `--env` into imggen.toml, so the next run from the file generates
/// the same files, the VM's example environment file included.
#[test]
fn init_writes_args_and_env_flags_and_generate_check_stays_clean() {
    let t = Test::fixture("axum-single").args(&[
        "init",
        "--platform",
        "vm",
        "--platform",
        "fly",
        "--arg",
        "serve",
        "--env",
        "REGION=eu \"west\"",
    ]);
    t.run().code(0);
    let toml = t.read("imggen.toml");
    assert!(toml.contains("\nargs = [\"serve\"]\n"), "{toml}");
    assert!(
        toml.contains("\nenv = { REGION = \"eu \\\"west\\\"\" }\n"),
        "{toml}"
    );
    assert!(t
        .read("deploy/vm/hello-axum.env.example")
        .contains("\n#REGION=eu \"west\"\n"));
    t.args(&["generate", "--check"]).run().code(0);
}

#[test]
fn bad_args_and_env_are_refused_with_the_fix() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "version = 1\nargs = [\"serve\\nExecStartPre=/bin/sh\"]\n",
            &["plan"],
            "imggen.toml: `args` = \"serve\\nExecStartPre=/bin/sh\" must be one-line arguments",
        ),
        (
            "version = 1\n[env]\nAPI_TOKEN = \"abc\"\n",
            &["plan"],
            "imggen.toml `env` sets API_TOKEN, which looks like a credential",
        ),
        (
            "version = 1\n[env]\nPORT = \"1\"\n",
            &["plan"],
            "platforms reserve PORT and K_*",
        ),
        (
            "version = 1\n[env]\n\"BAD-NAME\" = \"1\"\n",
            &["plan"],
            "must be an environment variable name",
        ),
        (
            "version = 1\n",
            &["plan", "--env", "MODE"],
            "--env \"MODE\" has no `=`; write --env NAME=VALUE",
        ),
        (
            "version = 1\n",
            &["plan", "--arg", "a\u{1b}b"],
            "--arg \"a\\u{1b}b\" must be one-line arguments",
        ),
    ];
    for (file, args, message) in cases {
        Test::fixture("axum-single")
            .write("imggen.toml", file)
            .args(args)
            .run()
            .code(2)
            .stderr_has(message)
            .one_error_line();
    }
}

#[test]
fn a_procfile_that_runs_another_program_is_shown_and_not_used() {
    Test::fixture("axum-single")
        .write("Procfile", "web: bin/start.sh --fast\n")
        .args(&["plan"])
        .run()
        .code(0)
        .stdout_has("Procfile:1: the Procfile's web process runs `bin/start.sh --fast`, not the binary hello-axum, so its arguments are not used; set `args` in imggen.toml if the binary needs any");
    Test::fixture("axum-single")
        .write("Procfile", "web: hello-axum --db $DATABASE_URL\n")
        .args(&["plan"])
        .run()
        .code(0)
        .stdout_has(
            "Procfile:1: the Procfile's web process needs a shell (`$` in `$DATABASE_URL`)",
        );
}

#[test]
fn a_binary_without_a_listener_gets_no_port_and_a_job_a_worker_and_a_unit() {
    let t = Test::fixture("lib-only")
        .write("src/main.rs", "fn main() {\n    println!(\"done\");\n}\n")
        .args(&[
            "plan",
            "--platform",
            "fly",
            "--platform",
            "cloud-run",
            "--platform",
            "render",
            "--platform",
            "vm",
        ]);
    t.run()
        .code(0)
        .stdout_has("\n  port             none\n")
        .stdout_has("(no listener in the binary's code: nothing is exposed)")
        .stdout_has("http service     none")
        .stdout_has("(the binary serves nothing, so no port is routed to it)")
        .stdout_has("job\n")
        .stdout_has("(the binary serves nothing: it runs to completion as a Cloud Run job)")
        .stdout_has("service type     worker")
        .stdout_has("proxy            none")
        .stdout_has("deploy/cloud-run/job.yaml");
    let t = t.args(&["generate", "--platform", "cloud-run", "--platform", "fly"]);
    t.run().code(0);
    assert!(!t.read("Dockerfile").contains("EXPOSE"));
    assert!(!t.read("fly.toml").contains("http_service"));
    assert!(!t.path().join("deploy/cloud-run/service.yaml").exists());
    let t = t
        .write("imggen.toml", "version = 1\n[cloud_run]\njob = false\n")
        .args(&["plan", "--platform", "cloud-run"]);
    t.run()
        .code(2)
        .stderr_has("imggen.toml [cloud_run] job = false, but justalib serves nothing; set `port` if it does serve HTTP, or remove job = false")
        .one_error_line();
}

/// The plan of each detection fixture, every platform selected: the arguments with their
/// evidence, and what each platform file does with them and with the release task.
#[test]
fn plans_of_the_procfile_and_clap_fixtures_show_the_command_and_where_it_goes() {
    let all = [
        "plan",
        "--platform",
        "fly",
        "--platform",
        "cloud-run",
        "--platform",
        "render",
        "--platform",
        "vm",
    ];
    let run = Test::fixture("procfile").args(&all).run();
    run.code(0)
        .stdout_has("(the Procfile's web process (Procfile:2); $PORT is the plan's port 8080")
        .stdout_has("release command  migrate\n")
        .stdout_has("job procapp-release (deploy/cloud-run/release-job.yaml)")
        .stdout_has("so render.yaml sets no dockerCommand");
    insta::assert_snapshot!("procfile-all-platforms__plan", run.stdout);
    let run = Test::fixture("clap-serve").args(&all).run();
    run.code(0)
        .stdout_has("(the clap subcommand `serve` (src/main.rs:16) is named like a server");
    insta::assert_snapshot!("clap-serve-all-platforms__plan", run.stdout);
}

/// The server-like subcommand in each form clap has (an enum deriving `Parser` renamed with
/// `#[clap(name)]`, nested enums, the builder), and the directory to serve, which the image
/// creates.
#[test]
fn clap_command_lines_give_the_server_subcommand_and_the_directory_to_serve() {
    let run = Test::fixture("scan-clap-parser-enum").args(&["plan"]).run();
    run.code(0).stdout_has("  args             run\n");
    let run = Test::fixture("scan-clap-nested").args(&["plan"]).run();
    run.code(0).stdout_has("  args             server start\n").stdout_has(
        "the clap subcommands `server start` (src/main.rs:13, src/main.rs:21) are named like a server",
    );
    let run = Test::fixture("scan-clap-builder").args(&["plan"]).run();
    run.code(0)
        .stdout_has("  args             daemon /app/data\n")
        .stdout_has("its argument root (src/main.rs:16) is the directory to serve: /app/data, which the image creates empty");
    let t = Test::fixture("scan-serve-dir").args(&["generate"]);
    t.run().code(0);
    let dockerfile = t.read("Dockerfile");
    assert!(
        dockerfile.contains("&& mkdir -p /rootfs/app/data"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("\nWORKDIR /app\n"), "{dockerfile}");
    assert!(dockerfile.contains("CMD [\"/app/data\"]"), "{dockerfile}");
    Test::fixture("scan-serve-dir")
        .args(&["plan", "--platform", "vm"])
        .run()
        .code(0)
        .stdout_has("  - the unit passes the directory to serve /app/data, which the image creates but a server does not have; create it on the server or set `args` in imggen.toml\n");
}

/// A command line the bare binary cannot start with is refused with what to set, and planned
/// once it is set.
#[test]
fn command_lines_the_bare_binary_cannot_start_are_refused_with_what_to_set() {
    Test::fixture("scan-clap-no-server")
        .args(&["plan"])
        .run()
        .code(2)
        .stderr_has("error: no-server-cli needs a subcommand (import, answer; src/main.rs:7) and none is named like a server (serve, server, start, web, run, daemon); set `args = [\"<subcommand>\"]` in imggen.toml or pass `--arg <subcommand>`")
        .one_error_line();
    Test::fixture("scan-clap-no-server")
        .args(&["plan", "--arg", "answer", "--port", "4040"])
        .run()
        .code(0)
        .stdout_has("  args             answer\n");
    Test::fixture("scan-config-arg")
        .args(&["plan"])
        .run()
        .code(2)
        .stderr_has("error: config-arg-svc reads its settings, the listen address among them, from the configuration file given as its argument CONFIG (src/main.rs:11) and its sources name no port; set `args` (the file's path in the image, with the flags the binary needs) and `port` in imggen.toml, or pass `--arg` and `--port`")
        .one_error_line();
    Test::fixture("scan-config-arg")
        .args(&["plan", "--arg", "--server", "--arg", "/config/tunnel.toml"])
        .run()
        .code(2)
        .stderr_has("error: config-arg-svc reads its listen address from the configuration file given as its argument CONFIG (src/main.rs:11) and its sources name no port; set `port` in imggen.toml or pass `--port`")
        .one_error_line();
    Test::fixture("scan-config-arg")
        .args(&[
            "plan",
            "--arg",
            "--server",
            "--arg",
            "/config/tunnel.toml",
            "--port",
            "2333",
        ])
        .run()
        .code(0)
        .stdout_has("  args             --server /config/tunnel.toml\n");
    Test::fixture("scan-required-flag")
        .args(&["plan"])
        .run()
        .code(2)
        .stderr_has("error: required-flag-svc cannot start without its flag --upstream (src/main.rs:10), whose value imggen cannot know; set `args = [\"--upstream\", \"<value>\"]` in imggen.toml or pass `--arg`")
        .one_error_line();
    Test::fixture("scan-required-flag")
        .write(
            "src/main.rs",
            "use clap::Parser;\n#[derive(Parser)]\nstruct Cli {\n    /// Name of the shard to serve.\n    shard: String,\n}\nfn main() {\n    let cli = Cli::parse();\n    let _ = std::net::TcpListener::bind((\"0.0.0.0\", 9090)).map(|_| cli.shard);\n}\n",
        )
        .args(&["plan"])
        .run()
        .code(2)
        .stderr_has("error: required-flag-svc cannot start without its argument SHARD (src/main.rs:5), whose value imggen cannot know; set `args = [\"<value>\"]` in imggen.toml or pass `--arg`")
        .one_error_line();
}

/// Configuration read from the environment by the `config` crate (a `__` separator over a
/// config file's nested key) and by confik (`#[derive(Configuration)]` field names).
#[test]
fn config_crate_and_confik_environment_names_move_the_listen_address() {
    Test::fixture("scan-config-env-file")
        .args(&["plan"])
        .run()
        .code(0)
        .stdout_has("  port             8300\n")
        .stdout_has("  listen env       SERVER__ADDRESS=0.0.0.0:8300\n")
        .stdout_has("(config.toml:4 sets `server.address` to the loopback 127.0.0.1:8300; the config crate's environment source (src/main.rs:8) reads SERVER__ADDRESS over it)");
    Test::fixture("scan-confik")
        .args(&["plan"])
        .run()
        .code(0)
        .stdout_has("  listen env       SERVER_ADDR=0.0.0.0:8080\n")
        .stdout_has("(the app reads SERVER_ADDR at src/main.rs:9; read with no default: the image sets it to port 8080)");
}

//! Analysis speed on a synthetic 100-member workspace (goal: under 100 ms), side by side with
//! `cargo metadata --no-deps --offline` on the same workspace, in the same run.
//!
//! Run with `cargo bench --bench analyze` (`bench/run.sh` does). Four timings, each the median
//! of many iterations after one warm-up (files are in the page cache, as on a developer machine):
//! - `analyze`: `imggen::analyze::analyze`, in process;
//! - `load`: analyze -> config -> plan -> generate (`imggen::pipeline::load`), in process;
//! - `imggen plan`: the release binary as a child process, output discarded;
//! - `cargo metadata --no-deps --offline`: as a child process, output discarded.
//!
//! The ratio that matters is `imggen plan` over `cargo metadata` (process against process).
//! Environment (not `IMGGEN_*`: imggen refuses unknown settings there): `BENCH_ANALYZE_MEMBERS`
//! (default 100), `BENCH_ANALYZE_ITERS` (default 30),
//! `BENCH_ANALYZE_JSON` (also write the numbers there as JSON).

use anyhow::{ensure, Context, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GOAL_MS: f64 = 100.0;

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let members: usize = env_or("BENCH_ANALYZE_MEMBERS", 100)?;
    let iters: usize = env_or("BENCH_ANALYZE_ITERS", 30)?;
    ensure!(
        members >= 1 && iters >= 1,
        "members and iterations must be at least 1"
    );

    let dir = tempfile::tempdir()?;
    let root = dir.path().join("ws");
    let (files, bytes) = write_workspace(&root, members)?;

    // Warm up, and check that every member is seen.
    let model = imggen::analyze::analyze(&root)?;
    ensure!(
        model.packages.len() == members,
        "analyze found {} packages, expected {members}",
        model.packages.len()
    );
    let flags = imggen::config::Config::default();
    let loaded = imggen::pipeline::load(&root, &flags)?;
    ensure!(
        loaded.plan.image.bin == "svc-000",
        "plan chose {}",
        loaded.plan.image.bin
    );
    let imggen_bin = env!("CARGO_BIN_EXE_imggen");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut plan_cmd = Command::new(imggen_bin);
    plan_cmd.arg("plan").arg(&root);
    let mut meta_cmd = Command::new(&cargo);
    meta_cmd
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&root);
    run_quiet(&mut plan_cmd).context("imggen plan")?;
    run_quiet(&mut meta_cmd).context("cargo metadata")?;

    let analyze = time(iters, || imggen::analyze::analyze(&root).map(|_| ()))?;
    let load = time(iters, || imggen::pipeline::load(&root, &flags).map(|_| ()))?;
    let plan = time(iters, || run_quiet(&mut plan_cmd))?;
    let meta = time(iters, || run_quiet(&mut meta_cmd))?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = ms(plan.median) / ms(meta.median);
    println!(
        "synthetic workspace: {members} members, {files} files, {bytes} bytes; {iters} iterations each (median, min, max)"
    );
    print_table(
        [
            ("analyze (in process)", &analyze),
            ("analyze+plan+render (in process)", &load),
            ("`imggen plan` (process)", &plan),
            ("`cargo metadata --no-deps --offline`", &meta),
        ],
        ratio,
    );
    let json = json_report(
        (members, files, bytes, iters),
        [
            ("analyze", &analyze),
            ("load", &load),
            ("imggen_plan", &plan),
            ("cargo_metadata", &meta),
        ],
        ratio,
    )?;
    println!("bench-json: {json}");
    if let Ok(path) = std::env::var("BENCH_ANALYZE_JSON") {
        std::fs::write(&path, format!("{json}\n")).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// One line per timing (median, min, max), then the ratio against the goal.
fn print_table(rows: [(&str, &Stats); 4], ratio: f64) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (name, s) in rows {
        println!(
            "  {name:<40} {:>8.2} ms  {:>8.2}  {:>8.2}",
            ms(s.median),
            ms(s.min),
            ms(s.max)
        );
    }
    println!(
        "  `imggen plan` / `cargo metadata`: {ratio:.2}x; goal < {GOAL_MS} ms: {}",
        if ms(rows[2].1.median) < GOAL_MS {
            "met"
        } else {
            "MISSED"
        }
    );
}

/// The numbers as one JSON line: sizes, each timing, and the ratio.
fn json_report(
    (members, files, bytes, iters): (usize, usize, usize, usize),
    stats: [(&str, &Stats); 4],
    ratio: f64,
) -> Result<String> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut json = String::new();
    write!(
        json,
        "{{\"members\":{members},\"files\":{files},\"bytes\":{bytes},\"iterations\":{iters},\"goal_ms\":{GOAL_MS}"
    )?;
    for (key, s) in stats {
        write!(
            json,
            ",\"{key}_ms\":{{\"median\":{:.3},\"min\":{:.3},\"max\":{:.3}}}",
            ms(s.median),
            ms(s.min),
            ms(s.max)
        )?;
    }
    write!(json, ",\"plan_over_metadata\":{ratio:.3}}}")?;
    Ok(json)
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn time(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Stats> {
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    samples.sort();
    Ok(Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    })
}

fn run_quiet(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

fn env_or(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v}: not a number")),
        Err(_) => Ok(default),
    }
}

/// Writes a workspace of `members` packages under `root` and returns (files, bytes) written.
///
/// A quarter of the members are services (a binary with routes, a PORT lookup and a signal
/// handler), the rest libraries with a few modules; each depends on workspace dependencies
/// and on the previous library. Member 0 is the one service named in imggen.toml.
fn write_workspace(root: &Path, members: usize) -> Result<(usize, usize)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut put = |rel: &str, text: &str| -> Result<()> {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a relative path has a parent"))?;
        std::fs::write(&path, text)?;
        files += 1;
        bytes += text.len();
        Ok(())
    };
    let name = |i: usize| {
        if i.is_multiple_of(4) {
            format!("svc-{i:03}")
        } else {
            format!("lib-{i:03}")
        }
    };
    put(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n\n\
         [workspace.package]\nversion = \"0.3.1\"\nedition = \"2021\"\nrust-version = \"1.85\"\n\n\
         [workspace.dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n\
         tokio = { version = \"1\", features = [\"full\"] }\naxum = \"0.8\"\nanyhow = \"1\"\n",
    )?;
    put("imggen.toml", "version = 1\nbin = \"svc-000\"\n")?;
    let mut lock = String::from("# This file is automatically @generated by Cargo.\nversion = 4\n");
    for (dep, version) in [
        ("anyhow", "1.0.100"),
        ("axum", "0.8.9"),
        ("serde", "1.0.228"),
        ("tokio", "1.54.1"),
    ] {
        write!(
            lock,
            "\n[[package]]\nname = \"{dep}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        )?;
    }
    let mut last_lib: Option<String> = None;
    for i in 0..members {
        let n = name(i);
        let dir = format!("crates/{n}");
        let mut manifest = format!(
            "[package]\nname = \"{n}\"\nversion.workspace = true\nedition.workspace = true\n\
             rust-version.workspace = true\npublish = false\n\n[features]\ndefault = []\nextra = []\n\n\
             [dependencies]\nserde.workspace = true\nanyhow.workspace = true\n"
        );
        let mut lock_deps = vec!["anyhow".to_string(), "serde".to_string()];
        if i % 4 == 0 {
            manifest.push_str("tokio.workspace = true\naxum.workspace = true\n");
            lock_deps.extend(["axum".into(), "tokio".into()]);
        }
        if let Some(lib) = &last_lib {
            writeln!(manifest, "{lib} = {{ path = \"../{lib}\" }}")?;
            lock_deps.push(lib.clone());
        }
        put(&format!("{dir}/Cargo.toml"), &manifest)?;
        write!(
            lock,
            "\n[[package]]\nname = \"{n}\"\nversion = \"0.3.1\"\ndependencies = [\n{}]\n",
            lock_deps
                .iter()
                .map(|d| format!(" \"{d}\",\n"))
                .collect::<String>()
        )?;
        if i % 4 == 0 {
            put(&format!("{dir}/src/main.rs"), &service_main(i))?;
            put(&format!("{dir}/src/routes.rs"), &module(i, 12))?;
        } else {
            put(
                &format!("{dir}/src/lib.rs"),
                &format!("pub mod model;\npub mod store;\n\n{}", module(i, 8)),
            )?;
            put(&format!("{dir}/src/model.rs"), &module(i + 1000, 10))?;
            put(&format!("{dir}/src/store.rs"), &module(i + 2000, 10))?;
            last_lib = Some(n);
        }
    }
    put("Cargo.lock", &lock)?;
    Ok((files, bytes))
}

fn service_main(i: usize) -> String {
    format!(
        r#"use axum::{{routing::get, Router}};
use tokio::signal::unix::{{signal, SignalKind}};

mod routes;

#[tokio::main]
async fn main() {{
    let port = std::env::var("PORT").unwrap_or_else(|_| "{port}".to_string());
    let app = Router::new()
        .route("/health", get(|| async {{ "ok" }}))
        .route("/api/items", get(routes::list))
        .route("/api/items/{{id}}", get(routes::show));
    let listener = tokio::net::TcpListener::bind(format!("0.0.0.0:{{port}}"))
        .await
        .expect("failed to bind");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {{
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {{
                _ = tokio::signal::ctrl_c() => {{}}
                _ = term.recv() => {{}}
            }}
        }})
        .await
        .expect("server error");
}}
"#,
        port = 8000 + i
    )
}

/// A module of `functions` small functions and a struct, with string literals and comments.
fn module(seed: usize, functions: usize) -> String {
    let mut s = format!(
        "//! Module {seed}: generated for the analysis benchmark.\n\n\
         #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]\n\
         pub struct Item{seed} {{\n    pub id: u64,\n    pub name: String,\n    pub tags: Vec<String>,\n}}\n\n"
    );
    for f in 0..functions {
        s.push_str(&format!(
            "/// Computes value {f} for module {seed}.\n\
             pub fn compute_{f}(items: &[Item{seed}], factor: u64) -> u64 {{\n\
             \x20   let label = \"module-{seed}-fn-{f}\";\n\
             \x20   let mut total = label.len() as u64;\n\
             \x20   for item in items {{\n\
             \x20       total = total.wrapping_mul(31).wrapping_add(item.id * factor);\n\
             \x20       if item.tags.iter().any(|t| t == \"skip\") {{\n\
             \x20           continue;\n\
             \x20       }}\n\
             \x20       total ^= item.name.len() as u64;\n\
             \x20   }}\n\
             \x20   total\n}}\n\n"
        ));
    }
    s
}

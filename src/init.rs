//! Texts for people: the commented imggen.toml that `init` writes, and `plan`'s text output.
//! Pure functions of the plan.

use crate::config::Config;
use crate::plan::ImagePlan;

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The imggen.toml `init` writes: every decision spelled out with its reason. Values chosen by
/// flags are set; detected values are commented out, so detection stays live (a changed port in
/// the sources shows up as drift) until someone uncomments a line to pin it.
pub fn config_file(plan: &ImagePlan, flags: &Config) -> String {
    let why = |topic: &str| {
        plan.decisions
            .iter()
            .find(|d| d.topic == topic)
            .map(|d| d.why.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    out.push_str("# imggen settings, created by `imggen init`; edit freely. Every key is described in the README.\n");
    out.push_str("# Detected values are commented out: uncomment a line to pin it instead of following the project.\n");
    out.push_str("version = 1\n");
    let mut entry = |comment: String, key: &str, detected: String, set: Option<String>| {
        out.push_str(&format!("\n# {comment}\n"));
        match set {
            Some(v) => out.push_str(&format!("{key} = {v}\n")),
            None => out.push_str(&format!("# {key} = {detected}\n")),
        }
    };
    entry(
        format!("Binary to package: {}.", why("binary")),
        "bin",
        toml_str(&plan.bin),
        flags.bin.as_deref().map(toml_str),
    );
    entry(
        format!("Port the app listens on: {}.", why("port")),
        "port",
        plan.port.to_string(),
        flags.port.map(|p| p.to_string()),
    );
    entry(
        format!("Health route: {}.", why("health route")),
        "health_path",
        toml_str(plan.health_path.as_deref().unwrap_or("/health")),
        None,
    );
    entry(
        "C library: \"gnu\" (Debian runtime) or \"musl\" (static binary on scratch).".into(),
        "libc",
        toml_str(if plan.cargo.target.is_some() {
            "musl"
        } else {
            "gnu"
        }),
        flags.libc.map(|l| {
            toml_str(if l == crate::config::Libc::Musl {
                "musl"
            } else {
                "gnu"
            })
        }),
    );
    entry(
        "Runtime base: bookworm-slim, scratch or distroless-cc (files in images/).".into(),
        "base",
        toml_str(&plan.base.name),
        flags.base.as_deref().map(toml_str),
    );
    entry(
        format!("Rust in the builder: {}.", why("rust")),
        "rust_version",
        toml_str(&plan.rust_version),
        flags.rust_version.as_deref().map(toml_str),
    );
    entry(
        "Cargo profile and features of the build.".into(),
        "profile",
        toml_str(&plan.cargo.profile),
        flags.profile.as_deref().map(toml_str),
    );
    entry(
        "Features to enable (required-features of the binary are added).".into(),
        "features",
        toml_list(&plan.cargo.features),
        flags.features.as_ref().map(|f| toml_list(f)),
    );
    entry(
        "BuildKit cache mounts for the registry and target/: faster rebuilds, needs BuildKit."
            .into(),
        "cache_mounts",
        plan.cache_mounts.to_string(),
        flags.cache_mounts.map(|b| b.to_string()),
    );
    entry(
        format!("Stop signal: {}.", plan.signal.why),
        "stop_signal",
        toml_str(&plan.signal.stop_signal),
        None,
    );
    let platforms: Vec<String> = plan
        .platforms
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    out.push_str("\n# Deploy files to write: fly, cloud-run, render, vm.\n");
    out.push_str(&format!("platforms = {}\n", toml_list(&platforms)));
    out.push_str(&crate::platforms::config_sections(plan));
    out
}

/// `imggen plan` as text: decisions with reasons, what a hand-written Dockerfile says, warnings,
/// files.
pub fn plan_text(
    plan: &ImagePlan,
    existing: Option<&crate::analyze::dockerfile::ExistingDockerfile>,
    files: &[&str],
) -> String {
    let mut out = format!(
        "imggen plan: binary {} of package {}\n\n",
        plan.bin, plan.package
    );
    let sections = plan.deploy.sections();
    let width = plan
        .decisions
        .iter()
        .chain(sections.iter().flat_map(|(_, ds)| ds.iter()))
        .map(|d| d.topic.len())
        .max()
        .unwrap_or(0);
    for d in &plan.decisions {
        out.push_str(&format!(
            "  {:width$}  {}\n  {:width$}    ({})\n",
            d.topic, d.value, "", d.why
        ));
    }
    for (platform, decisions) in sections {
        out.push_str(&format!("\n{}:\n", platform.name()));
        for d in decisions {
            out.push_str(&format!(
                "  {:width$}  {}\n  {:width$}    ({})\n",
                d.topic, d.value, "", d.why
            ));
        }
    }
    let findings = existing.map(|d| d.findings()).unwrap_or_default();
    if !findings.is_empty() {
        out.push_str("\nexisting Dockerfile (not generated by imggen):\n");
        for f in findings {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    if !plan.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in &plan.warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out.push_str("\nfiles:\n");
    for f in files {
        out.push_str(&format!("  {f}\n"));
    }
    out
}

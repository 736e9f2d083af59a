//! Texts for people: the commented imggen.toml that `init` writes, and `plan`'s text output.
//! Pure functions of the plan.

use crate::config::{Config, Platform};
use crate::deploy::quote::toml_str;
use crate::deploy::Plan;
use crate::model::ExistingDockerfile;
use crate::plan::{ImagePlan, Topic};

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

/// One setting of the imggen.toml `init` writes: its comment, key, detected value and the
/// value the flags set (written live), all as TOML.
type Entry = (String, &'static str, String, Option<String>);

/// The imggen.toml `init` writes: every decision spelled out with its reason. Values chosen by
/// flags are set; detected values are commented out, so detection stays live (a changed port in
/// the sources shows up as drift) until someone uncomments a line to pin it.
pub fn config_file(whole: &Plan, flags: &Config) -> String {
    let mut out = String::new();
    out.push_str("# imggen settings, created by `imggen init`; edit freely. Every key is described in the README.\n");
    out.push_str("# Detected values are commented out: uncomment a line to pin it instead of following the project.\n");
    out.push_str("version = 1\n");
    for (comment, key, detected, set) in entries(&whole.image, flags) {
        out.push_str(&format!("\n# {comment}\n"));
        match set {
            Some(v) => out.push_str(&format!("{key} = {v}\n")),
            None => out.push_str(&format!("# {key} = {detected}\n")),
        }
    }
    let platforms: Vec<String> = whole
        .image
        .platforms
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let every: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
    out.push_str(&format!(
        "\n# Deploy files to write: {}.\n",
        every.join(", ")
    ));
    out.push_str(&format!("platforms = {}\n", toml_list(&platforms)));
    out.push_str(&crate::deploy::config_sections(whole));
    if flags.build.as_ref().is_some_and(|b| b.arch.is_some()) {
        out.push_str(&format!(
            "\n# Architectures of the image, cross-compiled into one multi-architecture image (--arch).\n[build]\narch = {}\n",
            toml_list(&whole.image.arch)
        ));
    }
    out
}

/// An inline TOML table of environment values.
fn toml_table(env: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{} = {}", crate::deploy::quote::toml_key(k), toml_str(v)))
        .collect();
    if pairs.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", pairs.join(", "))
    }
}

/// `env`: the image's environment values (secrets belong on the platform).
fn env_entry(plan: &ImagePlan, flags: &Config) -> Entry {
    (
        "Environment of the image and the platform files; never a secret (set those on the platform).".into(),
        "env",
        toml_table(&plan.image_env),
        flags.env.as_ref().map(toml_table),
    )
}

/// `args`, with where the detected ones come from.
fn args_entry(plan: &ImagePlan, flags: &Config, why: String) -> Entry {
    (
        format!("Arguments the image runs the binary with (the Dockerfile's CMD): {why}."),
        "args",
        toml_list(&plan.args),
        flags.args.as_deref().map(toml_list),
    )
}

/// The image's settings, in the order init writes them.
fn entries(plan: &ImagePlan, flags: &Config) -> Vec<Entry> {
    let why = |topic: Topic| {
        plan.decisions
            .iter()
            .find(|d| d.topic == topic)
            .map(|d| d.why.clone())
            .unwrap_or_default()
    };
    vec![
        (
            format!("Binary to package: {}.", why(Topic::Binary)),
            "bin",
            toml_str(&plan.bin),
            flags.bin.as_deref().map(toml_str),
        ),
        (
            format!("Port the app listens on: {}.", why(Topic::Port)),
            "port",
            plan.port.to_string(),
            flags.port.map(|p| p.to_string()),
        ),
        args_entry(plan, flags, why(Topic::Args)),
        env_entry(plan, flags),
        (
            format!("Health route: {}.", why(Topic::HealthRoute)),
            "health_path",
            toml_str(plan.health_path.as_deref().unwrap_or("/health")),
            None,
        ),
        (
            "C library: \"gnu\" (Debian runtime) or \"musl\" (static binary on scratch).".into(),
            "libc",
            toml_str(plan.base.libc.as_str()),
            flags.libc.map(|l| toml_str(l.as_str())),
        ),
        (
            format!(
                "Runtime base: {} (files in images/).",
                crate::profiles::names()
            ),
            "base",
            toml_str(&plan.base.name),
            flags.base.as_deref().map(toml_str),
        ),
        (
            format!("Rust in the builder: {}.", why(Topic::Rust)),
            "rust_version",
            toml_str(&plan.rust_version),
            flags.rust_version.as_deref().map(toml_str),
        ),
        (
            "Cargo profile and features of the build.".into(),
            "profile",
            toml_str(&plan.cargo.profile),
            flags.profile.as_deref().map(toml_str),
        ),
        (
            "Features to enable (required-features of the binary are added).".into(),
            "features",
            toml_list(&plan.cargo.features),
            flags.features.as_ref().map(|f| toml_list(f)),
        ),
        (
            "BuildKit cache mounts for the registry and target/, the cooked dependencies also in a layer for a registry cache; false: layers only, for the classic builder."
                .into(),
            "cache_mounts",
            plan.cache_mounts.to_string(),
            flags.cache_mounts.map(|b| b.to_string()),
        ),
        (
            format!("Stop signal: {}.", plan.signal.why),
            "stop_signal",
            toml_str(plan.signal.stop_signal.as_str()),
            None,
        ),
    ]
}

/// `imggen plan` as text: decisions with reasons, what a hand-written Dockerfile says, warnings,
/// files.
pub fn plan_text(
    whole: &Plan,
    existing: Option<&ExistingDockerfile>,
    warnings: &[String],
    files: &[&str],
) -> String {
    let plan = &whole.image;
    let mut out = format!(
        "imggen plan: binary {} of package {}\n\n",
        plan.bin, plan.package
    );
    let sections = whole.deploy.selected();
    let width = plan
        .decisions
        .iter()
        .chain(sections.iter().flat_map(|(_, t)| t.decisions().iter()))
        .map(|d| d.topic.as_str().len())
        .max()
        .unwrap_or(0);
    for d in &plan.decisions {
        out.push_str(&format!(
            "  {:width$}  {}\n  {:width$}    ({})\n",
            d.topic, d.value, "", d.why
        ));
    }
    for (platform, target) in sections {
        out.push_str(&format!("\n{}:\n", platform.name()));
        for d in target.decisions() {
            out.push_str(&format!(
                "  {:width$}  {}\n  {:width$}    ({})\n",
                d.topic, d.value, "", d.why
            ));
        }
    }
    if !plan.env_reads.is_empty() {
        out.push_str("\nenvironment the app reads:\n");
        let width = plan
            .env_reads
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0);
        for e in &plan.env_reads {
            let mut what = Vec::new();
            if let Some(d) = &e.default {
                what.push(format!("default {d:?}"));
            }
            if e.required {
                what.push("required".to_string());
            }
            if e.secret {
                what.push("secret".to_string());
            }
            if what.is_empty() {
                what.push("optional".to_string());
            }
            out.push_str(&format!(
                "  {:width$}  {} ({})\n",
                e.name,
                what.join(", "),
                e.at
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
    if !warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out.push_str("\nfiles:\n");
    for f in files {
        out.push_str(&format!("  {f}\n"));
    }
    out
}

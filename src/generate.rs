//! `generate`: the whole plan to file contents: the Dockerfile and `.dockerignore` here, each
//! deploy target's files from `deploy`, all through `template`. The Dockerfile's shell lives in
//! `templates/Dockerfile.tera`; this module only joins lists and quotes values for it.
//!
//! Pure: values in, strings out. Every output is normalized (see `template::normalize`) so
//! `generate --check` is quiet when nothing changed.

use crate::deploy::{self, Plan};
use crate::keep::{Kept, KEPT_HEADING, SECRETS_AGAIN};
use crate::plan::{AptPackage, ImagePlan};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;

/// Every file the plan calls for: the Dockerfile, .dockerignore and the deploy files.
pub fn files(plan: &Plan) -> Result<Vec<GeneratedFile>> {
    files_kept(plan, &Kept::default())
}

/// [`files`] with the user's kept `.dockerignore` rules (see [`crate::keep`]).
pub fn files_kept(plan: &Plan, kept: &Kept) -> Result<Vec<GeneratedFile>> {
    let mut files = vec![GeneratedFile {
        path: "Dockerfile".into(),
        contents: dockerfile(&plan.image)?,
    }];
    let deploy_files = deploy::files(plan)?;
    let mut ignored: Vec<String> = deploy_files
        .iter()
        .map(|f| f.path.clone())
        .chain([crate::config::FILE_NAME.to_string()])
        .collect();
    ignored.sort();
    let v = DockerignoreValues {
        deploy_files: ignored,
        secret_lines: crate::secrets::dockerignore_lines(),
        kept: kept.lines.clone(),
        kept_heading: KEPT_HEADING,
        kept_exceptions: kept.has_exceptions(),
        secrets_again: SECRETS_AGAIN,
    };
    files.push(GeneratedFile {
        path: ".dockerignore".into(),
        contents: template::render("dockerignore", &plan.image, &v)?,
    });
    files.extend(deploy_files);
    Ok(files)
}

/// What `templates/dockerignore.tera` prints besides the plan.
#[derive(Serialize)]
struct DockerignoreValues {
    /// Files only deploy tools read: imggen.toml and the deploy files.
    deploy_files: Vec<String>,
    /// The secret rules (see `secrets`).
    secret_lines: Vec<String>,
    /// The user's own rules, carried over (see `keep`).
    kept: Vec<String>,
    kept_heading: &'static str,
    /// The kept rules re-include something, so the secret rules follow them again.
    kept_exceptions: bool,
    secrets_again: &'static str,
}

/// What `templates/Dockerfile.tera` prints besides the plan: lists joined and values quoted.
#[derive(Serialize)]
struct DockerfileValues {
    /// `name (why), ...` of the builder's packages.
    build_packages: String,
    /// The builder's package names, space-separated.
    build_package_names: String,
    /// `name (why), ...` of the runtime's packages.
    runtime_packages: String,
    /// The runtime's package names, space-separated.
    runtime_package_names: String,
    /// The builder's removal of secret-looking files from the copied directories (`secrets`).
    secret_cleanup: String,
    /// `key="value"` of every label, JSON-quoted.
    labels: Vec<String>,
    /// The exec-form ENTRYPOINT.
    entrypoint: String,
    /// `KEY="value"` of every listen env var, in name order.
    listen_env: Vec<String>,
}

/// Quotes a string for a Dockerfile (JSON rules, which Docker's parser follows).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// `name (why), ...` and the space-separated names of some packages.
fn package_lists(packages: &[AptPackage]) -> (String, String) {
    let why: Vec<String> = packages
        .iter()
        .map(|p| format!("{} ({})", p.name, p.why))
        .collect();
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    (why.join(", "), names.join(" "))
}

fn dockerfile(plan: &ImagePlan) -> Result<String> {
    let (build_packages, build_package_names) = package_lists(&plan.build_packages);
    let (runtime_packages, runtime_package_names) = package_lists(&plan.runtime_packages);
    let mut entry: Vec<String> = Vec::new();
    if plan.signal.init {
        entry.extend(["/usr/bin/tini".to_string(), "--".to_string()]);
    }
    entry.push(format!("/usr/local/bin/{}", plan.bin));
    let v = DockerfileValues {
        build_packages,
        build_package_names,
        runtime_packages,
        runtime_package_names,
        secret_cleanup: crate::secrets::find_delete("/rootfs/app"),
        labels: plan
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect(),
        entrypoint: format!(
            "[{}]",
            entry
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        listen_env: plan
            .listen_env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect(),
    };
    template::render("Dockerfile", plan, &v)
}

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
    let ctx = &plan.image.context;
    let in_context = |p: &str| {
        if ctx.root_in_context.is_empty() {
            p.to_string()
        } else {
            format!("{}/{p}", ctx.root_in_context)
        }
    };
    let mut ignored: Vec<String> = deploy_files
        .iter()
        .map(|f| in_context(&f.path))
        .chain([in_context(crate::config::FILE_NAME)])
        .collect();
    ignored.sort();
    let mut target_lines = vec!["/target".to_string()];
    if !ctx.root_in_context.is_empty() {
        target_lines.push(format!("/{}/target", ctx.root_in_context));
    }
    if let Some(f) = &plan.image.frontend {
        target_lines.push(format!("/{}", in_context(&f.project_output)));
    }
    let v = DockerignoreValues {
        target_lines,
        deploy_files: ignored,
        secret_lines: crate::secrets::dockerignore_lines(),
        // The user's rules are relative to the project root, which is not the context root
        // then; their .dockerignore stays where it is.
        kept: if ctx.root_in_context.is_empty() {
            kept.lines.clone()
        } else {
            Vec::new()
        },
        kept_heading: KEPT_HEADING,
        kept_exceptions: kept.has_exceptions(),
        secrets_again: SECRETS_AGAIN,
    };
    files.push(GeneratedFile {
        path: ctx.ignore_file.clone(),
        contents: template::render("dockerignore", &plan.image, &v)?,
    });
    files.extend(deploy_files);
    Ok(files)
}

/// What `templates/dockerignore.tera` prints besides the plan.
#[derive(Serialize)]
struct DockerignoreValues {
    /// The build output directories: the context root's, the project root's and the frontend's.
    target_lines: Vec<String>,
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
    /// The builder's working directory: the project root inside the context, under /app.
    workdir: String,
    /// The frontend's output goes into the builder (embedded) or the runtime (served).
    frontend_embedded: bool,
    frontend_served: bool,
    /// The image works in `/app`, owned by the app's user ([`crate::plan::works_in_app_dir`]).
    app_workdir: bool,
    /// The builder's /rootfs holds /app (owned by the app's user): it has files there, or the
    /// runtime stage has no step that could create it.
    app_in_rootfs: bool,
    /// The top-level directories of the builder's /rootfs, each copied by a COPY of its own;
    /// empty: one COPY of the whole tree onto / ([`rootfs_dirs`]).
    rootfs_dirs: Vec<String>,
    /// The runtime stage creates /app, owned by the app's user, before the copies.
    app_dir_first: bool,
    /// Lines after the first stage's WORKDIR: toolchain file, rustup, builder ENV.
    builder_setup: String,
    /// COPY lines before `cargo chef cook`: cargo configuration and vendored sources.
    early_copy: String,
    /// `--mount=` options (secrets, SSH agent) of the steps that fetch dependencies.
    dep_mounts: String,
    /// One build step on cache mounts, no planner or cook: a context above the project root,
    /// whose path dependencies cargo-chef cannot cook.
    mounts_only: bool,
    /// The cook and build keep their `target/` in cache mounts, so the build can start from a
    /// previous build's image (`IMGGEN_PREVIOUS`) and push its own (`target-cache`).
    previous: bool,
    /// The planner's COPY lines and the start of its RUN (stand-ins of the targets' entry
    /// files) when the plan names its inputs; empty: it copies the whole context.
    planner_copy: String,
    planner_stand_ins: String,
    /// cargo's arguments for `cargo chef cook`: the build's without `--locked`. cargo-chef's
    /// recipe writes every local package at version 0.0.1 and prunes Cargo.lock by `--bin`
    /// through optional dependencies too, so cargo may have to adjust the cook's copy of the
    /// lock; the final `cargo build` stays `--locked` on the project's own.
    cook_args: String,
    /// Cargo's home cache mount option (empty without cache mounts).
    cargo_home_mount: String,
    /// The `target/` cache mount option, one per app, target and profile (empty without).
    target_mount: String,
    /// The cook's own target cache mount: cargo-chef's stubs of the local crates stay out of the
    /// build's mount.
    cook_mount: String,
    /// The sha256 list of the sources the last build in the target mount compiled.
    sources_record: String,
    /// cargo's fingerprints in the profile directory: the oldest compile the mount records is
    /// the time below which an unchanged source needs no dating back.
    fingerprints: String,
    /// Assignments before cargo in those steps.
    cargo_env: String,
    /// The instruction bringing the sources into the builder: the context, or the `sources`
    /// stage's copy of it without `.git` when the frontend's build needs `.git` in the context.
    copy_sources: String,
    /// `KEY="value"` of every listen env var, in name order.
    listen_env: Vec<String>,
    /// The exec-form CMD: the binary's arguments (None without any).
    cmd: Option<String>,
    /// `NAME="value"` of every `[env]` value, quoted for ENV.
    env: Vec<String>,
}

/// An exec-form (JSON array) instruction argument.
fn exec_form(words: &[String]) -> String {
    format!(
        "[{}]",
        words
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A value for `ENV NAME=...`: double-quoted, with `\`, `"` and `$` escaped so the builder
/// neither ends the string nor substitutes variables in it.
fn env_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `COPY path path` for each of `paths` under `comment`; nothing without paths.
fn copies(paths: &[String], comment: &str) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let lines: String = paths.iter().map(|p| format!("COPY {p} {p}\n")).collect();
    format!("{comment}{lines}")
}

/// The Dockerfile lines of the builder's setup (see [`crate::plan::BuilderSetup`]).
fn builder_lines(b: &crate::plan::BuilderSetup) -> (String, String, String, String) {
    let mut setup = String::new();
    if let Some(rustup) = &b.rustup {
        setup.push_str(&format!("RUN {rustup}\n"));
    }
    if let Some(file) = &b.toolchain_file {
        setup.push_str(&format!(
            "# The project's toolchain ({file}), for every cargo step below.\nCOPY {file} ./\n"
        ));
    }
    if !b.env.is_empty() {
        let pairs: Vec<String> = b
            .env
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    format!("{k}=\"\"")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        setup.push_str(&format!("ENV {}\n", pairs.join(" ")));
    }
    let what = if b.early_files.len() > 1 {
        "Cargo's configuration and vendored sources"
    } else {
        "Cargo's configuration"
    };
    let early = copies(
        &b.early_files,
        &format!("# {what} before the dependencies, as the final build sees them.\n"),
    ) + &copies(
        &b.local_crates,
        "# Local packages outside the workspace members ([patch] or path dependencies), which\n# cargo-chef's recipe leaves out: copied whole, so the cook compiles them like dependencies.\n",
    );
    let mut mounts: Vec<String> = b
        .secrets
        .iter()
        .map(|id| format!("--mount=type=secret,id={id},required=true"))
        .collect();
    if b.ssh {
        mounts.push("--mount=type=ssh,required=true".into());
    }
    let mounts: String = mounts.iter().map(|m| format!("{m} \\\n    ")).collect();
    let env: String = b.cargo_env.iter().map(|e| format!("{e} ")).collect();
    (setup, early, mounts, env)
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

/// The plan as a multi-architecture Dockerfile prints it: cargo's target is the one the builder
/// wrote to `/rust-target` for `TARGETARCH`, and the target cache mount is shared by all targets
/// (cargo keeps each target's files apart under target/).
fn cross(plan: &ImagePlan) -> ImagePlan {
    let mut plan = plan.clone();
    let triple = "\"$(cat /rust-target)\"";
    if let Some(t) = &plan.cargo.target {
        plan.cargo.common_args = plan
            .cargo
            .common_args
            .replace(&format!("--target {t}"), &format!("--target {triple}"));
    }
    plan.cargo.binary_path = format!(
        "\"target/$(cat /rust-target)/{}/{}\"",
        plan.cargo.profile_dir, plan.bin
    );
    plan.cargo.target = Some("cross".into());
    plan
}

/// Cargo's home in the builder with cache mounts: a cache mount shared by every build, with
/// cargo's own lock files inside it, so builds of different apps download and extract crates
/// side by side (cargo locks the registry) instead of waiting for each other.
const CARGO_HOME: &str = "/usr/local/cargo-home";

/// The `--mount=type=cache` options of cargo's home (registry and git checkouts), of the build's
/// `target/` and of the cook's `target/` (empty strings without cache mounts). Cargo's home is
/// `sharing=shared` (cargo locks it itself); the target mounts are `sharing=locked`: the steps
/// around cargo read and write their record. Builds of another checkout of the same app, or of
/// another app of the same name, share the target mounts; the record of built sources (or
/// touching every source) keeps them apart.
fn cache_mount_lines(plan: &ImagePlan, workdir: &str) -> (String, String, String) {
    if !plan.cache_mounts {
        return (String::new(), String::new(), String::new());
    }
    let home = format!(
        "--mount=type=cache,id=imggen-cargo-home,target={CARGO_HOME},sharing=shared \\\n    "
    );
    let target = |kind: &str| {
        format!(
            "--mount=type=cache,id=imggen-{kind}-{}-{}-{},target={workdir}/target,sharing=locked \\\n    ",
            plan.name,
            plan.cargo.target.as_deref().unwrap_or("native"),
            plan.cargo.profile
        )
    };
    (home, target("target"), target("cook"))
}

/// The ENTRYPOINT's words: tini first when the plan wants an init.
fn entrypoint(plan: &ImagePlan) -> Vec<String> {
    let mut entry: Vec<String> = Vec::new();
    if plan.signal.init {
        entry.extend(["/usr/bin/tini".to_string(), "--".to_string()]);
    }
    entry.push(format!("/usr/local/bin/{}", plan.bin));
    entry
}

/// The builder assembles /app in /rootfs: the image ships files there (run-time directories, a
/// served frontend or directory), or works there on a base whose runtime stage creates no user
/// (the tree arrives in one copy). An empty /app the user-creating step makes is not copied: an
/// empty copy would only add an empty layer.
fn app_in_rootfs(plan: &ImagePlan) -> bool {
    let files = plan.frontend.as_ref().is_some_and(|f| !f.embedded)
        || !plan.runtime_dirs.is_empty()
        || plan.served_dir.is_some();
    crate::plan::works_in_app_dir(plan)
        && (files || plan.user.method != crate::profiles::UserMethod::Useradd)
}

/// The top-level directories the builder's /rootfs holds, for one COPY each into the runtime
/// stage: BuildKit takes about 0.25 s longer to copy a tree onto / than into a directory, on
/// every build. A copied directory's own owner and mode are not kept (its contents' are), so
/// the list is empty (one COPY of /rootfs/ onto /) when one of them matters and the runtime
/// stage cannot create it first: scratch's 1777 /tmp, a served directory or home at the top, the
/// app-owned /app on a base without `useradd` (on one with it, the runtime stage creates /app).
fn rootfs_dirs(plan: &ImagePlan) -> Vec<String> {
    use crate::profiles::{CaCerts, UserMethod};
    if plan.user.method == UserMethod::PasswdFile {
        return Vec::new();
    }
    let mut paths = vec![format!("/usr/local/bin/{}", plan.bin)];
    if plan.base.ca_certificates == CaCerts::Copy {
        paths.push(plan.base.ca_path.clone());
    }
    if plan.signal.init {
        paths.push("/usr/bin/tini".into());
    }
    paths.extend(plan.runtime_dirs.iter().map(|d| d.to.clone()));
    if app_in_rootfs(plan) {
        paths.push("/app".into());
    }
    for owned in plan.user.home.iter().chain(&plan.served_dir) {
        if !owned.trim_matches('/').contains('/') {
            return Vec::new();
        }
        paths.push(owned.clone());
    }
    let tops: std::collections::BTreeSet<String> = paths
        .iter()
        .filter_map(|p| p.trim_start_matches('/').split('/').next())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tops.contains("app") && plan.user.method != UserMethod::Useradd {
        return Vec::new();
    }
    tops.into_iter().collect()
}

/// cargo's output directory of the plan's target and profile, relative to the working directory:
/// the binary's directory (quoted with the shell's `$(cat /rust-target)` when cross-compiling).
fn profile_dir(plan: &ImagePlan) -> String {
    let path = &plan.cargo.binary_path;
    let suffix = format!("/{}", plan.bin);
    match path.strip_suffix(&format!("{suffix}\"")) {
        Some(dir) => format!("{dir}\""),
        None => path.strip_suffix(&suffix).unwrap_or(path).to_string(),
    }
}

/// The cook's cargo arguments: the build's without `--locked` (cargo-chef's copy of Cargo.lock
/// may need cargo's adjustments).
fn cook_args(common_args: &str) -> String {
    common_args
        .split(' ')
        .filter(|a| *a != "--locked")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The record of built sources in a profile directory (kept per target, so the builds of each
/// architecture in a shared mount compare with their own).
fn record_path(profile_dir: &str) -> String {
    in_profile_dir(profile_dir, ".imggen-sources")
}

/// `name` in a profile directory, inside the quotes of a cross-compiling one.
fn in_profile_dir(profile_dir: &str, name: &str) -> String {
    match profile_dir.strip_suffix('"') {
        Some(dir) => format!("{dir}/{name}\""),
        None => format!("{profile_dir}/{name}"),
    }
}

/// The planner's COPY lines and the stand-ins at the start of its RUN, when the plan names its
/// inputs (empty strings: the whole context is copied).
fn planner_lines(inputs: Option<&crate::plan::PlannerInputs>) -> (String, String) {
    match inputs {
        Some(inputs) => {
            let copies: String = inputs
                .member_dirs
                .iter()
                .map(|d| format!("COPY {d}/Cargo.toml {d}/\n"))
                .collect();
            let mkdir = if inputs.stand_in_dirs.is_empty() {
                String::new()
            } else {
                format!("mkdir -p {} \\\n    && ", inputs.stand_in_dirs.join(" "))
            };
            (
                format!("COPY Cargo.toml Cargo.lock ./\n{copies}"),
                format!("{mkdir}touch {} \\\n    && ", inputs.stand_ins.join(" ")),
            )
        }
        None => (String::new(), String::new()),
    }
}

fn dockerfile(plan: &ImagePlan) -> Result<String> {
    let cross_plan;
    let plan = if plan.arch.is_empty() {
        plan
    } else {
        cross_plan = cross(plan);
        &cross_plan
    };
    let (build_packages, build_package_names) = package_lists(&plan.build_packages);
    let (runtime_packages, runtime_package_names) = package_lists(&plan.runtime_packages);
    let (mut builder_setup, early_copy, dep_mounts, cargo_env) = builder_lines(&plan.builder);
    if plan.cache_mounts {
        builder_setup.push_str(&format!(
            "# Cargo's home is a cache mount shared by every build (cargo locks it itself).\nENV CARGO_HOME={CARGO_HOME}\n"
        ));
    }
    let workdir = if plan.context.root_in_context.is_empty() {
        "/app".to_string()
    } else {
        format!("/app/{}", plan.context.root_in_context)
    };
    let (cargo_home_mount, target_mount, cook_mount) = cache_mount_lines(plan, &workdir);
    let frontend_served = plan.frontend.as_ref().is_some_and(|f| !f.embedded);
    let rootfs_dirs = rootfs_dirs(plan);
    let (planner_copy, planner_stand_ins) = planner_lines(plan.planner_inputs.as_ref());
    let mounts_only = plan.cache_mounts && !plan.context.root_in_context.is_empty();
    let v = DockerfileValues {
        mounts_only,
        previous: plan.cache_mounts && !mounts_only,
        planner_copy,
        planner_stand_ins,
        cook_args: cook_args(&plan.cargo.common_args),
        copy_sources: if plan.frontend.as_ref().is_some_and(|f| f.git.is_some()) {
            "COPY --from=sources /app/ ./".into()
        } else {
            "COPY . .".into()
        },
        cargo_home_mount,
        target_mount,
        cook_mount,
        sources_record: record_path(&profile_dir(plan)),
        fingerprints: in_profile_dir(&profile_dir(plan), ".fingerprint"),
        builder_setup,
        early_copy,
        dep_mounts,
        cargo_env,
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
        frontend_embedded: plan.frontend.as_ref().is_some_and(|f| f.embedded),
        frontend_served,
        app_workdir: crate::plan::works_in_app_dir(plan),
        app_in_rootfs: app_in_rootfs(plan),
        rootfs_dirs: rootfs_dirs.clone(),
        app_dir_first: crate::plan::works_in_app_dir(plan)
            && plan.user.method == crate::profiles::UserMethod::Useradd,
        workdir,
        entrypoint: exec_form(&entrypoint(plan)),
        cmd: (!plan.args.is_empty()).then(|| exec_form(&plan.args)),
        env: plan
            .image_env
            .iter()
            .map(|(k, v)| format!("{k}={}", env_quote(v)))
            .collect(),
        listen_env: plan
            .listen_env
            .iter()
            .map(|(k, v)| format!("{k}={}", env_quote(v)))
            .collect(),
    };
    template::render("Dockerfile", plan, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_quoted_for_the_builder() {
        assert_eq!(env_quote(r#"a "b" $HOME \ c"#), r#""a \"b\" \$HOME \\ c""#);
        assert_eq!(
            exec_form(&["serve".into(), "--port".into(), "80 80".into()]),
            r#"["serve", "--port", "80 80"]"#
        );
    }
}

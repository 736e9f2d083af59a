//! `generate`: the whole plan to file contents: the Dockerfile and `.dockerignore` here, each
//! deploy target's files from `deploy`, all through `template`.
//!
//! Pure: values in, strings out. Every output is normalized (see `template::normalize`) so
//! `generate --check` is quiet when nothing changed.

use crate::deploy::{self, Plan};
use crate::plan::{ImagePlan, APP_USER};
use crate::profiles::{CaCerts, UserMethod};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

/// Every file the plan calls for: the Dockerfile, .dockerignore and the deploy files.
pub fn files(plan: &Plan) -> Result<Vec<GeneratedFile>> {
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
}

fn put(v: &mut Map<String, Value>, key: &str, value: impl Serialize) {
    v.insert(
        key.into(),
        serde_json::to_value(value).expect("template values serialize"),
    );
}

/// Quotes a string for a Dockerfile (JSON rules, which Docker's parser follows).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn dockerfile(plan: &ImagePlan) -> Result<String> {
    let mut v = Map::new();

    // Builder set-up: extra targets and native build packages, in one RUN.
    let mut setup = Vec::new();
    let mut setup_comments = Vec::new();
    if let Some(t) = &plan.cargo.target {
        setup.push(format!("rustup target add {t}"));
        setup_comments.push(format!("The {t} target for a static binary."));
    }
    let apt_build = !plan.build_packages.is_empty();
    if apt_build {
        let names: Vec<&str> = plan
            .build_packages
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        setup_comments.push(format!(
            "Build packages: {}.",
            plan.build_packages
                .iter()
                .map(|p| format!("{} ({})", p.name, p.why))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        setup.push("apt-get update".into());
        setup.push(format!(
            "apt-get install -y --no-install-recommends {}",
            names.join(" ")
        ));
        setup.push("rm -rf /var/lib/apt/lists/*".into());
    }
    put(&mut v, "setup", &setup);
    put(&mut v, "setup_comments", &setup_comments);
    put(&mut v, "apt_build", apt_build);

    // The build and the /rootfs tree the runtime stage copies in one layer.
    let bin_to = format!("/rootfs/usr/local/bin/{}", plan.bin);
    let mut build = vec![
        "find . -path ./target -prune -o -name '*.rs' -exec touch {} +".to_string(),
        format!(
            "cargo build {} --package {} --bin {}",
            plan.cargo.common_args, plan.package, plan.bin
        ),
        format!("install -D -m 0755 {} {bin_to}", plan.cargo.binary_path),
    ];
    if plan.base.ca_certificates == CaCerts::Copy {
        build.push(format!(
            "install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs{}",
            plan.base.ca_path
        ));
    }
    if plan.signal.init {
        build.push("install -D -m 0755 /usr/bin/tini-static /rootfs/usr/bin/tini".into());
    }
    if !plan.runtime_dirs.is_empty() {
        build.push("mkdir -p /rootfs/app".into());
        for d in &plan.runtime_dirs {
            build.push(format!("cp -R {} /rootfs{}", d.from, d.to));
        }
        build.push(crate::secrets::find_delete("/rootfs/app"));
    }
    if plan.user.method == UserMethod::PasswdFile {
        let (u, g) = (plan.user.uid, plan.user.gid);
        build.push("mkdir -p /rootfs/etc && mkdir -m 1777 /rootfs/tmp".into());
        build.push(format!("printf '{APP_USER}:x:{u}:{g}:{APP_USER}:/nonexistent:/sbin/nologin\\n' > /rootfs/etc/passwd"));
        build.push(format!("printf '{APP_USER}:x:{g}:\\n' > /rootfs/etc/group"));
    }
    put(&mut v, "build", &build);
    let mounts = if plan.cache_mounts {
        let triple = plan.cargo.target.as_deref().unwrap_or("native");
        format!(
            "--mount=type=cache,id=imggen-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \\\n    --mount=type=cache,id=imggen-target-{}-{triple}-{},target=/app/target,sharing=locked \\\n    ",
            plan.name, plan.cargo.profile
        )
    } else {
        String::new()
    };
    put(&mut v, "cache_mounts", &mounts);

    // Runtime stage: packages and the user, in one RUN.
    let mut runtime_run = Vec::new();
    let apt_runtime = !plan.runtime_packages.is_empty();
    if apt_runtime {
        let names: Vec<&str> = plan
            .runtime_packages
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        runtime_run.push("apt-get update".into());
        runtime_run.push(format!(
            "apt-get install -y --no-install-recommends {}",
            names.join(" ")
        ));
        runtime_run.push("rm -rf /var/lib/apt/lists/*".into());
    }
    if plan.user.method == UserMethod::Useradd {
        let (u, g) = (plan.user.uid, plan.user.gid);
        runtime_run.push(format!("groupadd --system --gid {g} {APP_USER}"));
        runtime_run.push(format!(
            "useradd --system --no-log-init --uid {u} --gid {g} --home-dir /nonexistent --shell /usr/sbin/nologin {APP_USER}"
        ));
    }
    put(&mut v, "runtime_run", &runtime_run);
    put(&mut v, "apt_runtime", apt_runtime);
    put(
        &mut v,
        "apt_runtime_why",
        plan.runtime_packages
            .iter()
            .map(|p| format!("{} ({})", p.name, p.why))
            .collect::<Vec<_>>()
            .join(", "),
    );

    let labels: Vec<String> = plan
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    put(&mut v, "labels", &labels);
    let mut entry: Vec<String> = Vec::new();
    if plan.signal.init {
        entry.extend(["/usr/bin/tini".to_string(), "--".to_string()]);
    }
    entry.push(format!("/usr/local/bin/{}", plan.bin));
    put(
        &mut v,
        "entrypoint",
        format!(
            "[{}]",
            entry
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    template::render("Dockerfile", plan, &v)
}

//! Google Cloud Run: a Knative service for servers, a job for programs that run to completion
//! (`deploy/cloud-run/`), from `[cloud_run]`, `[image]` and the image plan.

use super::quote::{check_label, toml_str, yaml_quote};
use super::{InitSection, Target};
use crate::config::{CloudRunConfig, Config, Platform};
use crate::plan::{secret_name, Decision, ImagePlan, Topic};
use crate::template::{self, GeneratedFile};
use anyhow::{bail, Result};
use serde::Serialize;

/// Path of the Cloud Run service (servers).
pub const CLOUD_RUN_SERVICE: &str = "deploy/cloud-run/service.yaml";
/// Path of the Cloud Run job (programs that run to completion).
pub const CLOUD_RUN_JOB: &str = "deploy/cloud-run/job.yaml";
/// Path of the Cloud Run job of the release task (run once per deploy, e.g. migrations).
pub const CLOUD_RUN_RELEASE_JOB: &str = "deploy/cloud-run/release-job.yaml";
/// Cloud Run's instance cap when `[cloud_run] max_instances` is unset: a cost guard.
pub const DEFAULT_MAX_INSTANCES: u32 = 3;
/// Cloud Run CPU limit when `[cloud_run] cpu` is unset.
pub const DEFAULT_CLOUD_RUN_CPU: &str = "1";
/// Cloud Run memory limit when `[cloud_run] memory` is unset.
pub const DEFAULT_CLOUD_RUN_MEMORY: &str = "512Mi";
/// Cloud Run requests per instance when `[cloud_run] concurrency` is unset (Cloud Run's default).
pub const DEFAULT_CONCURRENCY: u32 = 80;
/// Cloud Run settings: a service for servers, a job for programs that run to completion.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CloudRunPlan {
    /// Service or job name (a DNS label).
    pub name: String,
    /// Write a job (runs to completion) instead of a service.
    pub job: bool,
    /// The image reference Cloud Run pulls.
    pub image: String,
    /// True when `image` is imggen's placeholder, which must be replaced before deploying.
    pub image_placeholder: bool,
    /// `autoscaling.knative.dev/maxScale`: the cost guard.
    pub max_instances: u32,
    /// `autoscaling.knative.dev/minScale`.
    pub min_instances: u32,
    /// CPU limit, e.g. "1".
    pub cpu: String,
    /// Memory limit, e.g. "512Mi".
    pub memory: String,
    /// Requests one instance serves at once (`containerConcurrency`).
    pub concurrency: u32,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

/// The instance and resource limits.
struct Limits {
    max_instances: u32,
    min_instances: u32,
    cpu: String,
    memory: String,
    concurrency: u32,
}

/// An environment entry of a Kubernetes container, quoted for YAML: a value, or a Secret
/// Manager secret (`secret`, its latest version).
#[derive(Serialize)]
struct NameValue {
    name: String,
    value: Option<String>,
    secret: Option<String>,
}

/// What `templates/cloud-run-{service,job}.yaml.tera` print, quoted for YAML.
#[derive(Serialize)]
struct CloudRunValues {
    name: String,
    image: String,
    image_placeholder: bool,
    env: Vec<NameValue>,
    /// `NAME (required, where)` of each non-secret variable without a value.
    unset: Vec<String>,
    /// The container's `args` (after the image's ENTRYPOINT), quoted.
    args: Vec<String>,
    max_instances: u32,
    max_scale: String,
    min_scale: String,
    cpu: String,
    memory: String,
    concurrency: u32,
    health_path: Option<String>,
    timeout: String,
}

impl Target for CloudRunPlan {
    fn platform() -> Platform {
        Platform::CloudRun
    }

    fn decide(image: &ImagePlan, config: &Config, name: &str) -> Result<(Self, Vec<String>)> {
        let c = config.cloud_run.clone().unwrap_or_default();
        let mut decisions = Vec::new();
        let job = kind(image, c.job, &mut decisions)?;
        if !job && !image.protocol.is_http() {
            bail!(
                "Cloud Run serves only HTTP and gRPC, but {} speaks its own protocol over TCP (a plain listener, no HTTP framework); deploy it with --platform fly or vm instead",
                image.bin
            );
        }
        let name = service_name(c.service.clone(), name, job, &mut decisions)?;
        let (img, placeholder, why) = cloud_run_image(config, &name);
        decisions.push(Decision::new(Topic::Image, &img, why));
        let limits = limits(image, &c, job, &mut decisions)?;
        if image.release_args.is_some() {
            decisions.push(Decision::new(
                Topic::Release,
                format!("job {name}-release ({CLOUD_RUN_RELEASE_JOB})"),
                "the plan's release task: execute it before deploying a new revision",
            ));
        }
        let mut warnings = Vec::new();
        if placeholder {
            warnings.push(format!(
                "{} pulls the placeholder image {}; set [cloud_run] image (or an Artifact Registry [image] name) before deploying",
                if job { CLOUD_RUN_JOB } else { CLOUD_RUN_SERVICE },
                img
            ));
        }
        let plan = CloudRunPlan {
            name,
            job,
            image: img,
            image_placeholder: placeholder,
            max_instances: limits.max_instances,
            min_instances: limits.min_instances,
            cpu: limits.cpu,
            memory: limits.memory,
            concurrency: limits.concurrency,
            decisions,
        };
        Ok((plan, warnings))
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let v = CloudRunValues {
            name: yaml_quote(&self.name),
            image: yaml_quote(&self.image),
            image_placeholder: self.image_placeholder,
            env: env(image),
            unset: image
                .vars
                .iter()
                .filter(|v| v.value.is_none() && !v.secret)
                .map(|v| {
                    format!(
                        "{} ({}{})",
                        v.name,
                        if v.required {
                            "required, "
                        } else {
                            "optional, "
                        },
                        v.from
                    )
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect()
                })
                .collect(),
            args: image.args.iter().map(|a| yaml_quote(&literal(a))).collect(),
            max_instances: self.max_instances,
            max_scale: yaml_quote(&self.max_instances.to_string()),
            min_scale: yaml_quote(&self.min_instances.to_string()),
            cpu: yaml_quote(&self.cpu),
            memory: yaml_quote(&self.memory),
            concurrency: self.concurrency,
            health_path: image.health_path.as_deref().map(yaml_quote),
            timeout: yaml_quote("600"),
        };
        let (path, name) = if self.job {
            (CLOUD_RUN_JOB, "cloud-run-job.yaml")
        } else {
            (CLOUD_RUN_SERVICE, "cloud-run-service.yaml")
        };
        let mut files = vec![GeneratedFile {
            path: path.into(),
            contents: template::render(name, image, &v)?,
        }];
        if let Some(release) = &image.release_args {
            let name: String = format!("{}-release", self.name).chars().take(63).collect();
            let r = CloudRunValues {
                name: yaml_quote(name.trim_end_matches('-')),
                args: release.iter().map(|a| yaml_quote(&literal(a))).collect(),
                ..v
            };
            files.push(GeneratedFile {
                path: CLOUD_RUN_RELEASE_JOB.into(),
                contents: template::render("cloud-run-release-job.yaml", image, &r)?,
            });
        }
        Ok(files)
    }

    fn init_section(&self) -> InitSection {
        let c = self;
        InitSection {
            title: "Google Cloud Run (deploy/cloud-run/). Uncomment a key to change it.",
            table: "cloud_run",
            keys: vec![
                ("service", toml_str(&c.name), "Service or job name."),
                (
                    "image",
                    toml_str(&c.image),
                    "Image Cloud Run pulls (Artifact Registry); pin a tag or digest per release.",
                ),
                (
                    "job",
                    c.job.to_string(),
                    "Write a job (runs to completion) instead of a service.",
                ),
                (
                    "max_instances",
                    c.max_instances.to_string(),
                    "Cost guard: the most instances Cloud Run may start.",
                ),
                (
                    "min_instances",
                    c.min_instances.to_string(),
                    "Instances kept warm (billed while idle).",
                ),
                ("cpu", toml_str(&c.cpu), "CPU limit."),
                ("memory", toml_str(&c.memory), "Memory limit."),
                (
                    "concurrency",
                    c.concurrency.to_string(),
                    "Requests one instance serves at once.",
                ),
            ],
        }
    }
}

/// `s` as Cloud Run passes it: `$(NAME)` in args and env values is a variable reference
/// unless written `$$(NAME)`.
fn literal(s: &str) -> String {
    s.replace("$(", "$$(")
}

/// The container's environment: the plan's values, then each secret from Secret Manager.
fn env(image: &ImagePlan) -> Vec<NameValue> {
    let mut env: Vec<NameValue> = image
        .env
        .iter()
        .map(|(k, v)| NameValue {
            name: yaml_quote(k),
            value: Some(yaml_quote(&literal(v))),
            secret: None,
        })
        .collect();
    env.extend(image.vars.iter().filter(|v| v.secret).map(|v| NameValue {
        name: yaml_quote(&v.name),
        value: None,
        secret: Some(yaml_quote(&secret_name(&v.name))),
    }));
    env
}

/// Whether Cloud Run runs the image as a job: `[cloud_run] job` when set, else when the binary
/// serves nothing. The deploy file and the CI deploy job both follow this one rule.
pub fn is_job(image: &ImagePlan, configured: Option<bool>) -> bool {
    configured.unwrap_or(!image.server)
}

/// A job for a program that serves nothing, a service otherwise, unless `[cloud_run] job` says.
fn kind(
    image: &ImagePlan,
    configured: Option<bool>,
    decisions: &mut Vec<Decision>,
) -> Result<bool> {
    let job = is_job(image, configured);
    Ok(match configured {
        Some(false) if !image.server => bail!(
            "imggen.toml [cloud_run] job = false, but {} serves nothing; set `port` if it does serve HTTP, or remove job = false",
            image.bin
        ),
        Some(_) => {
            decisions.push(Decision::new(
                Topic::Kind,
                if job { "job" } else { "service" },
                "imggen.toml [cloud_run] job",
            ));
            job
        }
        None if !job => {
            decisions.push(Decision::new(Topic::Kind, "service", "the binary serves HTTP"));
            job
        }
        None => {
            decisions.push(Decision::new(
                Topic::Kind,
                "job",
                "the binary serves nothing: it runs to completion as a Cloud Run job",
            ));
            job
        }
    })
}

/// `[cloud_run] service`, else the image name cut to Cloud Run's limit.
fn service_name(
    configured: Option<String>,
    name: &str,
    job: bool,
    decisions: &mut Vec<Decision>,
) -> Result<String> {
    Ok(match configured {
        Some(s) => {
            check_label("[cloud_run] service", &s, if job { 63 } else { 49 })?;
            decisions.push(Decision::new(
                Topic::Name,
                &s,
                "imggen.toml [cloud_run] service",
            ));
            s
        }
        None => {
            let n: String = name.chars().take(if job { 63 } else { 49 }).collect();
            let n = n.trim_end_matches('-').to_string();
            decisions.push(Decision::new(Topic::Name, &n, "the image name"));
            n
        }
    })
}

/// Instances, probes and resources, checked against each other.
fn limits(
    image: &ImagePlan,
    c: &CloudRunConfig,
    job: bool,
    decisions: &mut Vec<Decision>,
) -> Result<Limits> {
    let max = c.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES);
    let min = c.min_instances.unwrap_or(0);
    if max == 0 {
        bail!("imggen.toml [cloud_run] max_instances = 0 would never start the service; set 1 or more");
    }
    if min > max {
        bail!("imggen.toml [cloud_run] min_instances = {min} is above max_instances = {max}; lower min_instances or raise max_instances");
    }
    let cpu = c
        .cpu
        .clone()
        .unwrap_or_else(|| DEFAULT_CLOUD_RUN_CPU.into());
    let memory = c
        .memory
        .clone()
        .unwrap_or_else(|| DEFAULT_CLOUD_RUN_MEMORY.into());
    let concurrency = c.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !job {
        decisions.push(Decision::new(
            Topic::Instances,
            format!("{min} to {max}"),
            if c.max_instances.is_none() {
                "cost guard: at most 3 instances; raise [cloud_run] max_instances when traffic needs it"
            } else {
                "imggen.toml [cloud_run] max_instances / min_instances"
            },
        ));
        decisions.push(match &image.health_path {
            Some(h) => Decision::new(
                Topic::Probes,
                format!("startup and liveness GET {h}"),
                "the plan's health route",
            ),
            None => Decision::new(
                Topic::Probes,
                format!("startup TCP on port {}", image.port),
                "no health route found; set health_path for an HTTP check",
            ),
        });
    }
    decisions.push(Decision::new(
        Topic::Resources,
        format!("{cpu} CPU, {memory}"),
        "imggen's default unless [cloud_run] cpu / memory are set",
    ));
    Ok(Limits {
        max_instances: max,
        min_instances: min,
        cpu,
        memory,
        concurrency,
    })
}

/// True when the reference names a registry Cloud Run pulls from without extra set-up: Artifact
/// Registry, Container Registry or Docker Hub (a name without a registry host is a local image).
pub fn cloud_run_can_pull(reference: &str) -> bool {
    let host = reference.split('/').next().unwrap_or_default();
    reference.contains('/') && host.ends_with("-docker.pkg.dev")
        || host == "gcr.io"
        || host.ends_with(".gcr.io")
        || host == "docker.io"
}

/// Adds `:latest` to a reference without a tag or digest.
fn with_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || last.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// The Cloud Run image: `[cloud_run] image` as written; else `[image] name` (tagged `latest`)
/// when Cloud Run can pull from its registry; else a placeholder in Artifact Registry form
/// (`us-docker.pkg.dev/your-project/your-repository/NAME:latest`). The placeholder is a valid
/// reference, so `gcloud run services replace` accepts the file and then fails clearly on the
/// missing image, instead of on YAML syntax; `decide` also warns about it.
fn cloud_run_image(config: &Config, name: &str) -> (String, bool, String) {
    if let Some(i) = config.cloud_run.as_ref().and_then(|c| c.image.clone()) {
        return (i, false, "imggen.toml [cloud_run] image".into());
    }
    if let Some(pinned) = config.image.as_ref().and_then(|i| i.pinned_ref(name)) {
        if cloud_run_can_pull(&pinned) {
            return (
                pinned,
                false,
                "the digest `imggen build --push --write-digest` recorded".into(),
            );
        }
    }
    if let Some(n) = config.image.as_ref().and_then(|i| i.name.as_deref()) {
        if cloud_run_can_pull(n) {
            return (
                with_tag(n),
                false,
                "imggen.toml [image] name; pin a tag or digest per release with [cloud_run] image"
                    .into(),
            );
        }
    }
    (
        format!("us-docker.pkg.dev/your-project/your-repository/{name}:latest"),
        true,
        "placeholder: set [cloud_run] image to the Artifact Registry image `imggen build --push` publishes".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert!(cloud_run_can_pull("europe-west1-docker.pkg.dev/p/r/api"));
        assert!(cloud_run_can_pull("docker.io/library/nginx"));
        assert!(!cloud_run_can_pull("api"));
        assert!(!cloud_run_can_pull("ghcr.io/acme/api"));
        assert_eq!(with_tag("ghcr.io/acme/api"), "ghcr.io/acme/api:latest");
        assert_eq!(with_tag("localhost:5000/api:1"), "localhost:5000/api:1");
    }
}

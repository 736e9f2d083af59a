//! What the CI pipelines (GitHub Actions, GitLab CI) share: the imggen version they install, the
//! image they push and how they log in, and the deploy jobs of the other selected targets.

use super::cloud_run::{cloud_run_can_pull, is_job, CLOUD_RUN_JOB, CLOUD_RUN_SERVICE};
use super::quote::{toml_str, yaml_quote};
use super::vm::VM_DIR;
use crate::config::{CiConfig, Config, Platform};
use crate::plan::{Decision, ImagePlan, Topic};
use serde::Serialize;

/// The version `cargo install --locked imggen` pins when `[ci] imggen_version` is unset.
pub const IMGGEN_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Placeholder Workload Identity Federation provider.
pub const PLACEHOLDER_PROVIDER: &str =
    "projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER";
/// Placeholder deploying service account.
pub const PLACEHOLDER_SERVICE_ACCOUNT: &str = "DEPLOYER@PROJECT_ID.iam.gserviceaccount.com";
/// What `init` shows for an unset provider.
const EXAMPLE_PROVIDER: &str =
    "projects/123456789/locations/global/workloadIdentityPools/ci/providers/github";
/// What `init` shows for an unset service account.
const EXAMPLE_SERVICE_ACCOUNT: &str = "deployer@my-project.iam.gserviceaccount.com";
/// Cloud Run region when `[ci] gcp_region` is unset.
pub const DEFAULT_GCP_REGION: &str = "us-central1";

/// How the build job logs in to the registry it pushes to.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Login {
    /// The CI's own registry and token (GHCR with `GITHUB_TOKEN`, GitLab's with `CI_JOB_TOKEN`).
    Own,
    /// `IMGGEN_REGISTRY_USERNAME` / `IMGGEN_REGISTRY_PASSWORD` secrets.
    Secrets,
}

/// Where the Cloud Run job deploys and as whom.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CloudRunDeploy {
    /// The YAML file `gcloud run ... replace` applies.
    pub file: String,
    /// `services` or `jobs`.
    pub kind: String,
    pub provider: String,
    pub service_account: String,
    pub region: String,
}

/// The decisions both pipelines print.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CiPlan {
    /// imggen version installed by the jobs.
    pub imggen_version: String,
    /// `[image] name` when it names a registry; None pushes to the CI's own registry.
    pub image: Option<String>,
    pub login: Login,
    pub fly: bool,
    pub cloud_run: Option<CloudRunDeploy>,
    pub render: bool,
    /// The VM pack's directory, uploaded as an artifact.
    pub vm: Option<String>,
    pub decisions: Vec<Decision>,
}

/// True when the first component of `name` is a registry host (`ghcr.io/x`, `localhost:5000/x`).
fn has_registry(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(host, _)| host.contains('.') || host.contains(':') || host == "localhost")
}

/// What the pipeline templates print, quoted for YAML or the shell.
#[derive(Serialize)]
pub struct CiValues {
    version: String,
    /// The image repository, a shell word inside double quotes.
    image: String,
    own_login: bool,
    fly: bool,
    render: bool,
    vm: Option<String>,
    cloud_run: Option<CloudRunDeploy>,
}

/// `name` without its `:tag` or `@digest`: the pipeline tags each push with the commit.
fn repository(name: &str) -> &str {
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    let last = name.rfind('/').map_or(0, |i| i + 1);
    match name[last..].rfind(':') {
        Some(i) => &name[..last + i],
        None => name,
    }
}

impl CiPlan {
    /// The template values; `default_image` is the repository in the CI's own registry.
    pub fn values(&self, default_image: String) -> CiValues {
        CiValues {
            version: self.imggen_version.clone(),
            image: self.image.clone().unwrap_or(default_image),
            own_login: self.login == Login::Own,
            fly: self.fly,
            render: self.render,
            vm: self.vm.clone(),
            cloud_run: self.cloud_run.as_ref().map(|cr| CloudRunDeploy {
                provider: yaml_quote(&cr.provider),
                service_account: yaml_quote(&cr.service_account),
                ..cr.clone()
            }),
        }
    }

    /// Decides the shared settings; `own_host` is the CI's registry (`ghcr.io`) when its token
    /// can push there, `own_image` the repository pushed there when `[image] name` names no
    /// registry, and `ci` names the pipeline in reasons.
    pub fn decide(
        image: &ImagePlan,
        config: &Config,
        own_host: Option<&str>,
        own_image: &str,
        ci: &str,
    ) -> (CiPlan, Vec<String>) {
        let c: CiConfig = config.ci.clone().unwrap_or_default();
        let mut decisions = Vec::new();
        let mut warnings = Vec::new();
        let imggen_version = match c.imggen_version.clone() {
            Some(v) => {
                decisions.push(Decision::new(
                    Topic::CiImggen,
                    &v,
                    "imggen.toml [ci] imggen_version",
                ));
                v
            }
            None => {
                decisions.push(Decision::new(
                    Topic::CiImggen,
                    IMGGEN_VERSION,
                    "the imggen that wrote the pipeline, so CI checks with the same rules",
                ));
                IMGGEN_VERSION.to_string()
            }
        };
        let (image_name, login) = registry(config, own_host, own_image, &mut decisions);
        let selected = |p| image.platforms.contains(&p);
        let cloud_run = selected(Platform::CloudRun)
            .then(|| {
                if !image_name.as_deref().is_some_and(cloud_run_can_pull) {
                    let pushed = image_name.as_deref().unwrap_or("the CI's registry");
                    warnings.push(format!("the {ci} Cloud Run job deploys the image pushed to {pushed}, which Cloud Run does not pull from; set [image] name to an Artifact Registry image (REGION-docker.pkg.dev/PROJECT/REPOSITORY/NAME)"));
                }
                cloud_run(image, config, &c, ci, &mut decisions, &mut warnings)
            });
        for (p, secret) in [
            (Platform::Fly, "FLY_API_TOKEN"),
            (Platform::Render, "RENDER_DEPLOY_HOOK_URL"),
        ] {
            if selected(p) {
                decisions.push(Decision::new(
                    Topic::CiDeploy,
                    p.name(),
                    format!("selected platform; the job reads the {secret} secret"),
                ));
            }
        }
        if selected(Platform::Vm) {
            decisions.push(Decision::new(
                Topic::CiDeploy,
                "vm",
                "selected platform; the pack is uploaded as an artifact to copy to the server",
            ));
        }
        let plan = CiPlan {
            imggen_version,
            image: image_name,
            login,
            fly: selected(Platform::Fly),
            cloud_run,
            render: selected(Platform::Render),
            vm: selected(Platform::Vm).then(|| VM_DIR.to_string()),
            decisions,
        };
        (plan, warnings)
    }

    /// The `[ci]` keys of the imggen.toml `init` writes.
    pub fn init_keys(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut keys = vec![(
            "imggen_version",
            toml_str(&self.imggen_version),
            "The imggen the pipeline installs (cargo install --locked).",
        )];
        if let Some(cr) = &self.cloud_run {
            // A placeholder is shown as an example, marked as not a detected value.
            let (provider, provider_why) = if cr.provider == PLACEHOLDER_PROVIDER {
                (EXAMPLE_PROVIDER, "Workload Identity Federation provider of the Cloud Run deploy job (default: a placeholder).")
            } else {
                (
                    cr.provider.as_str(),
                    "Workload Identity Federation provider of the Cloud Run deploy job.",
                )
            };
            let (account, account_why) = if cr.service_account == PLACEHOLDER_SERVICE_ACCOUNT {
                (
                    EXAMPLE_SERVICE_ACCOUNT,
                    "Service account the Cloud Run deploy job acts as (default: a placeholder).",
                )
            } else {
                (
                    cr.service_account.as_str(),
                    "Service account the Cloud Run deploy job acts as.",
                )
            };
            keys.extend([
                (
                    "gcp_workload_identity_provider",
                    toml_str(provider),
                    provider_why,
                ),
                ("gcp_service_account", toml_str(account), account_why),
                ("gcp_region", toml_str(&cr.region), "Cloud Run region."),
            ]);
        }
        keys
    }
}

/// The pushed repository (`[image] name` when it names a registry, else None for the CI's own)
/// and how the build job logs in to it.
fn registry(
    config: &Config,
    own_host: Option<&str>,
    own_image: &str,
    decisions: &mut Vec<Decision>,
) -> (Option<String>, Login) {
    let configured = config.image.as_ref().and_then(|i| i.name.clone());
    let image_name = configured
        .filter(|n| has_registry(n))
        .map(|n| repository(&n).to_string());
    let login = match (&image_name, own_host) {
        (None, _) => Login::Own,
        (Some(n), Some(host)) if n.starts_with(&format!("{host}/")) => Login::Own,
        _ => Login::Secrets,
    };
    decisions.push(Decision::new(
        Topic::Registry,
        match &image_name {
            Some(n) => n.clone(),
            None => own_image.to_string(),
        },
        match login {
            Login::Own if image_name.is_some() => "imggen.toml [image] name, pushed with the job's own token",
            Login::Own => "[image] name names no registry: the CI's own, pushed with the job's own token",
            Login::Secrets => "imggen.toml [image] name, pushed with the IMGGEN_REGISTRY_USERNAME and IMGGEN_REGISTRY_PASSWORD secrets",
        },
    ));
    (image_name, login)
}

/// Where and as whom the Cloud Run deploy job deploys; placeholders are warned about.
fn cloud_run(
    image: &ImagePlan,
    config: &Config,
    c: &CiConfig,
    ci: &str,
    decisions: &mut Vec<Decision>,
    warnings: &mut Vec<String>,
) -> CloudRunDeploy {
    let job = is_job(image, config.cloud_run.as_ref().and_then(|c| c.job));
    let provider = c.gcp_workload_identity_provider.clone().unwrap_or_else(|| {
            warnings.push(format!("the {ci} Cloud Run job authenticates with a placeholder Workload Identity provider; set [ci] gcp_workload_identity_provider"));
            PLACEHOLDER_PROVIDER.into()
        });
    let service_account = c.gcp_service_account.clone().unwrap_or_else(|| {
            warnings.push(format!("the {ci} Cloud Run job deploys as a placeholder service account; set [ci] gcp_service_account"));
            PLACEHOLDER_SERVICE_ACCOUNT.into()
        });
    let region = c
        .gcp_region
        .clone()
        .unwrap_or_else(|| DEFAULT_GCP_REGION.into());
    decisions.push(Decision::new(
        Topic::CiDeploy,
        format!("cloud-run in {region}"),
        if c.gcp_region.is_some() {
            "imggen.toml [ci] gcp_region"
        } else {
            "imggen's default region; set [ci] gcp_region"
        },
    ));
    CloudRunDeploy {
        file: if job {
            CLOUD_RUN_JOB
        } else {
            CLOUD_RUN_SERVICE
        }
        .into(),
        kind: if job { "jobs" } else { "services" }.into(),
        provider,
        service_account,
        region,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_drops_tag_and_digest_but_keeps_a_registry_port() {
        assert_eq!(repository("ghcr.io/acme/api"), "ghcr.io/acme/api");
        assert_eq!(repository("ghcr.io/acme/api:1.4.0"), "ghcr.io/acme/api");
        assert_eq!(
            repository("localhost:5000/api:1@sha256:0123"),
            "localhost:5000/api"
        );
        assert_eq!(repository("localhost:5000/api"), "localhost:5000/api");
        assert!(has_registry("localhost:5000/api") && has_registry("ghcr.io/a"));
        assert!(!has_registry("acme/api") && !has_registry("api"));
    }
}

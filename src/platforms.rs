//! Platform files (fly.toml, Cloud Run, Render, a VM pack), rendered from the `ImagePlan`.
//!
//! `decide` (pure, called by `plan`) turns the `[fly]`, `[cloud_run]`, `[render]` and `[vm]`
//! sections into a `PlatformPlan`: the decisions only platform files use, each with its reason.
//! `render` prints them through the templates. Every value a platform file shares with the image
//! (port, health route, binary, stop signal, env) is read from the `ImagePlan`, never decided here.
//! Strings are quoted by the functions at the bottom, so a value like `yes` or `0755` stays a
//! string in YAML 1.1 (Cloud Run's parser) and TOML.

use crate::config::{Config, Platform, Proxy};
use crate::plan::{Decision, ImagePlan};
use crate::render::{base_context, render_template, GeneratedFile};
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::json;

/// Platform templates, embedded at compile time: (name, text).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("fly.toml", include_str!("../templates/fly.toml.tera")),
    (
        "cloud-run-service.yaml",
        include_str!("../templates/cloud-run-service.yaml.tera"),
    ),
    (
        "cloud-run-job.yaml",
        include_str!("../templates/cloud-run-job.yaml.tera"),
    ),
    ("render.yaml", include_str!("../templates/render.yaml.tera")),
    ("vm.service", include_str!("../templates/vm.service.tera")),
    ("Caddyfile", include_str!("../templates/Caddyfile.tera")),
    ("nginx.conf", include_str!("../templates/nginx.conf.tera")),
];

/// Path of the Fly.io config.
pub const FLY_TOML: &str = "fly.toml";
/// Path of the Cloud Run service (servers).
pub const CLOUD_RUN_SERVICE: &str = "deploy/cloud-run/service.yaml";
/// Path of the Cloud Run job (programs that run to completion).
pub const CLOUD_RUN_JOB: &str = "deploy/cloud-run/job.yaml";
/// Path of the Render Blueprint.
pub const RENDER_YAML: &str = "render.yaml";
/// Directory of the VM pack (systemd unit and proxy config).
pub const VM_DIR: &str = "deploy/vm";

/// Seconds between the stop signal and SIGKILL where the platform lets us choose (fly
/// `kill_timeout`, systemd `TimeoutStopSec`); Docker's and Cloud Run's fixed grace is 10 s too.
pub const STOP_TIMEOUT_SECS: u32 = 10;
/// Fly region when `[fly] primary_region` is unset (Ashburn, Virginia).
pub const DEFAULT_FLY_REGION: &str = "iad";
/// Fly machine preset when `[fly] size` is unset: the smallest.
pub const DEFAULT_FLY_SIZE: &str = "shared-cpu-1x";
/// Fly machine memory when `[fly] memory` is unset: enough for a typical Rust service.
pub const DEFAULT_FLY_MEMORY: &str = "256mb";
/// Cloud Run's instance cap when `[cloud_run] max_instances` is unset: a cost guard.
pub const DEFAULT_MAX_INSTANCES: u32 = 3;
/// Cloud Run CPU limit when `[cloud_run] cpu` is unset.
pub const DEFAULT_CLOUD_RUN_CPU: &str = "1";
/// Cloud Run memory limit when `[cloud_run] memory` is unset.
pub const DEFAULT_CLOUD_RUN_MEMORY: &str = "512Mi";
/// Cloud Run requests per instance when `[cloud_run] concurrency` is unset (Cloud Run's default).
pub const DEFAULT_CONCURRENCY: u32 = 80;
/// Render plan when `[render] plan` is unset: the smallest that never sleeps.
pub const DEFAULT_RENDER_PLAN: &str = "starter";
/// Render region when `[render] region` is unset (Render's own default).
pub const DEFAULT_RENDER_REGION: &str = "oregon";
/// Domain the VM proxy serves when `[vm] domain` is unset: a placeholder to replace.
pub const DEFAULT_DOMAIN: &str = "example.com";

const FLY_AUTO_STOP: &[&str] = &["stop", "suspend", "off"];
const FLY_SIZES: &[&str] = &[
    "shared-cpu-1x",
    "shared-cpu-2x",
    "shared-cpu-4x",
    "shared-cpu-8x",
    "performance-1x",
    "performance-2x",
    "performance-4x",
    "performance-8x",
    "performance-16x",
];
const FLY_CPU_KINDS: &[&str] = &["shared", "performance"];
const FLY_CPUS: &[u32] = &[1, 2, 4, 8, 16];

/// Decisions only platform files use, one section per selected platform (None when unselected).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PlatformPlan {
    /// fly.toml, when `fly` is selected.
    pub fly: Option<FlyPlan>,
    /// deploy/cloud-run/, when `cloud-run` is selected.
    pub cloud_run: Option<CloudRunPlan>,
    /// render.yaml, when `render` is selected.
    pub render: Option<RenderPlan>,
    /// deploy/vm/, when `vm` is selected.
    pub vm: Option<VmPlan>,
}

/// fly.toml settings beyond the image's.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlyPlan {
    /// Fly app name (global across Fly).
    pub app: String,
    /// Region code for new machines.
    pub primary_region: String,
    /// "stop", "suspend" or "off" (a string: fly.toml's schema rejects booleans).
    pub auto_stop_machines: String,
    /// Machines kept running in the primary region.
    pub min_machines_running: u32,
    /// Machine preset (`[[vm]] size`).
    pub size: String,
    /// Machine memory, e.g. "256mb".
    pub memory: String,
    /// CPUs, when set (else the preset's).
    pub cpus: Option<u32>,
    /// "shared" or "performance", when set (else the preset's).
    pub cpu_kind: Option<String>,
    /// `[deploy] release_command`, only when configured.
    pub release_command: Option<String>,
    /// `name@sha256:...` recorded by `imggen build --push --write-digest`: fly deploys this
    /// image instead of building the Dockerfile.
    pub image: Option<String>,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

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

/// render.yaml settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RenderPlan {
    /// Service name.
    pub service: String,
    /// "web" for servers, "worker" otherwise.
    pub kind: String,
    /// Instance type, e.g. "starter".
    pub plan: String,
    /// Region, e.g. "oregon".
    pub region: String,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

/// The VM pack: a hardened systemd unit, and for servers a TLS-terminating proxy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VmPlan {
    /// The unit's name without `.service`.
    pub unit: String,
    /// Where run-time files live and the app runs (None when it reads none).
    pub work_dir: Option<String>,
    /// The proxy in front of the app (None for a program that serves nothing).
    pub proxy: Option<Proxy>,
    /// Domain the proxy serves and gets a certificate for.
    pub domain: String,
    /// True when `domain` is imggen's placeholder.
    pub domain_placeholder: bool,
    /// `[vm] static_dir`: the built frontend in the project, served by the proxy.
    pub static_dir: Option<String>,
    /// Where the proxy reads that frontend on the server.
    pub static_root: String,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

impl PlatformPlan {
    /// Each selected platform's decisions, in file order, for `imggen plan`.
    pub fn sections(&self) -> Vec<(Platform, &[Decision])> {
        let mut out: Vec<(Platform, &[Decision])> = Vec::new();
        if let Some(p) = &self.fly {
            out.push((Platform::Fly, &p.decisions));
        }
        if let Some(p) = &self.cloud_run {
            out.push((Platform::CloudRun, &p.decisions));
        }
        if let Some(p) = &self.render {
            out.push((Platform::Render, &p.decisions));
        }
        if let Some(p) = &self.vm {
            out.push((Platform::Vm, &p.decisions));
        }
        out
    }
}

fn decision(topic: &str, value: impl Into<String>, why: impl Into<String>) -> Decision {
    Decision {
        topic: topic.into(),
        value: value.into(),
        why: why.into(),
    }
}

/// Decides the platform-only settings for the platforms `image` selects (pure); also returns
/// warnings about placeholders that must be replaced before deploying.
pub fn decide(image: &ImagePlan, config: &Config) -> Result<(PlatformPlan, Vec<String>)> {
    let mut out = PlatformPlan::default();
    let mut warnings = Vec::new();
    let selected = |p: Platform| image.platforms.contains(&p);
    let name = dns_label(&image.name);
    if selected(Platform::Fly) {
        out.fly = Some(decide_fly(image, config, &name)?);
    }
    if selected(Platform::CloudRun) {
        let cr = decide_cloud_run(image, config, &name)?;
        if cr.image_placeholder {
            warnings.push(format!(
                "{} pulls the placeholder image {}; set [cloud_run] image (or an Artifact Registry [image] name) before deploying",
                if cr.job { CLOUD_RUN_JOB } else { CLOUD_RUN_SERVICE },
                cr.image
            ));
        }
        out.cloud_run = Some(cr);
    }
    if selected(Platform::Render) {
        out.render = Some(decide_render(image, config, &name));
    }
    if selected(Platform::Vm) {
        let vm = decide_vm(image, config, &name)?;
        if vm.domain_placeholder && vm.proxy.is_some() {
            warnings.push(format!(
                "{VM_DIR}/{} serves the placeholder domain {DEFAULT_DOMAIN}; set [vm] domain before deploying",
                proxy_file(vm.proxy.unwrap_or_default())
            ));
        }
        out.vm = Some(vm);
    }
    Ok((out, warnings))
}

fn decide_fly(image: &ImagePlan, config: &Config, name: &str) -> Result<FlyPlan> {
    let c = config.fly.clone().unwrap_or_default();
    let mut decisions = Vec::new();
    let app = match c.app {
        Some(app) => {
            check_label("[fly] app", &app, 63)?;
            decisions.push(decision("app", &app, "imggen.toml [fly] app"));
            app
        }
        None => {
            decisions.push(decision(
                "app",
                name,
                "the image name; Fly app names are global, so set [fly] app if it is taken",
            ));
            name.to_string()
        }
    };
    let primary_region = c
        .primary_region
        .unwrap_or_else(|| DEFAULT_FLY_REGION.into());
    if primary_region.is_empty() || !primary_region.bytes().all(|b| b.is_ascii_lowercase()) {
        bail!("imggen.toml [fly] primary_region = \"{primary_region}\" is not a Fly region code; use one like \"iad\" or \"ams\" (`fly platform regions` lists them)");
    }
    decisions.push(decision(
        "primary region",
        &primary_region,
        if primary_region == DEFAULT_FLY_REGION {
            "imggen's default, Ashburn, Virginia; set [fly] primary_region"
        } else {
            "imggen.toml [fly] primary_region"
        },
    ));
    let auto_stop = c.auto_stop_machines.unwrap_or_else(|| "stop".into());
    if !FLY_AUTO_STOP.contains(&auto_stop.as_str()) {
        bail!("imggen.toml [fly] auto_stop_machines = \"{auto_stop}\" is not supported; use \"stop\", \"suspend\" or \"off\"");
    }
    let min_running = c.min_machines_running.unwrap_or(0);
    if image.server {
        decisions.push(decision(
            "http service",
            format!("internal port {}", image.port),
            "the plan's port; HTTPS forced at Fly's edge",
        ));
        decisions.push(decision(
            "idle machines",
            format!("{auto_stop}, {min_running} kept running"),
            "stopped when idle and started by the next request: the cheapest; set [fly] auto_stop_machines and min_machines_running",
        ));
        decisions.push(match &image.health_path {
            Some(h) => decision(
                "health check",
                format!("GET {h}"),
                "the plan's health route",
            ),
            None => decision(
                "health check",
                "none",
                "no health route found; set health_path",
            ),
        });
    } else {
        decisions.push(decision(
            "http service",
            "none",
            "the binary serves nothing, so no port is routed to it",
        ));
    }
    decisions.push(decision(
        "kill signal",
        format!("{}, {STOP_TIMEOUT_SECS} s", image.signal.stop_signal),
        "the image's STOPSIGNAL, and Docker's grace period",
    ));
    let size = c.size.unwrap_or_else(|| DEFAULT_FLY_SIZE.into());
    if !FLY_SIZES.contains(&size.as_str()) {
        bail!(
            "imggen.toml [fly] size = \"{size}\" is not a Fly machine preset; use one of {}",
            FLY_SIZES.join(", ")
        );
    }
    let memory = c.memory.unwrap_or_else(|| DEFAULT_FLY_MEMORY.into());
    if !valid_fly_memory(&memory) {
        bail!("imggen.toml [fly] memory = \"{memory}\" is not a size; write it like \"512mb\" or \"1gb\"");
    }
    if let Some(kind) = &c.cpu_kind {
        if !FLY_CPU_KINDS.contains(&kind.as_str()) {
            bail!("imggen.toml [fly] cpu_kind = \"{kind}\" is not supported; use \"shared\" or \"performance\"");
        }
    }
    if let Some(n) = c.cpus {
        if !FLY_CPUS.contains(&n) {
            bail!("imggen.toml [fly] cpus = {n} is not supported; use 1, 2, 4, 8 or 16");
        }
    }
    decisions.push(decision(
        "machine",
        format!("{size}, {memory}"),
        if size == DEFAULT_FLY_SIZE && memory == DEFAULT_FLY_MEMORY {
            "the smallest preset, enough for a typical Rust service; set [fly] size and memory"
        } else {
            "imggen.toml [fly] size / memory"
        },
    ));
    let pinned = config
        .image
        .as_ref()
        .and_then(|i| i.pinned_ref(&image.name));
    if let Some(p) = &pinned {
        decisions.push(decision(
            "image",
            p,
            "the digest `imggen build --push --write-digest` recorded: fly deploys it, no build",
        ));
    }
    if let Some(cmd) = &c.release_command {
        decisions.push(decision(
            "release command",
            cmd,
            "imggen.toml [fly] release_command: runs once per deploy before new machines start",
        ));
    }
    Ok(FlyPlan {
        app,
        primary_region,
        auto_stop_machines: auto_stop,
        min_machines_running: min_running,
        size,
        memory,
        cpus: c.cpus,
        cpu_kind: c.cpu_kind,
        release_command: c.release_command,
        image: pinned,
        decisions,
    })
}

/// True when the reference names a registry Cloud Run pulls from without extra set-up: Artifact
/// Registry, Container Registry or Docker Hub (a name without a registry host is a local image).
fn cloud_run_can_pull(reference: &str) -> bool {
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

fn decide_cloud_run(image: &ImagePlan, config: &Config, name: &str) -> Result<CloudRunPlan> {
    let c = config.cloud_run.clone().unwrap_or_default();
    let mut decisions = Vec::new();
    let job = match c.job {
        Some(false) if !image.server => bail!(
            "imggen.toml [cloud_run] job = false, but {} serves nothing; set `port` if it does serve HTTP, or remove job = false",
            image.bin
        ),
        Some(j) => {
            decisions.push(decision(
                "kind",
                if j { "job" } else { "service" },
                "imggen.toml [cloud_run] job",
            ));
            j
        }
        None if image.server => {
            decisions.push(decision("kind", "service", "the binary serves HTTP"));
            false
        }
        None => {
            decisions.push(decision(
                "kind",
                "job",
                "the binary serves nothing: it runs to completion as a Cloud Run job",
            ));
            true
        }
    };
    let name = match c.service {
        Some(s) => {
            check_label("[cloud_run] service", &s, if job { 63 } else { 49 })?;
            decisions.push(decision("name", &s, "imggen.toml [cloud_run] service"));
            s
        }
        None => {
            let n: String = name.chars().take(if job { 63 } else { 49 }).collect();
            let n = n.trim_end_matches('-').to_string();
            decisions.push(decision("name", &n, "the image name"));
            n
        }
    };
    let (img, placeholder, why) = cloud_run_image(config, &name);
    decisions.push(decision("image", &img, why));
    let max = c.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES);
    let min = c.min_instances.unwrap_or(0);
    if max == 0 {
        bail!("imggen.toml [cloud_run] max_instances = 0 would never start the service; set 1 or more");
    }
    if min > max {
        bail!("imggen.toml [cloud_run] min_instances = {min} is above max_instances = {max}; lower min_instances or raise max_instances");
    }
    let cpu = c.cpu.unwrap_or_else(|| DEFAULT_CLOUD_RUN_CPU.into());
    let memory = c.memory.unwrap_or_else(|| DEFAULT_CLOUD_RUN_MEMORY.into());
    for (key, v) in [("cpu", &cpu), ("memory", &memory)] {
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            bail!("imggen.toml [cloud_run] {key} = \"{v}\" is not a Kubernetes quantity; write it like \"1\" or \"512Mi\"");
        }
    }
    let concurrency = c.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !job {
        decisions.push(decision(
            "instances",
            format!("{min} to {max}"),
            if c.max_instances.is_none() {
                "cost guard: at most 3 instances; raise [cloud_run] max_instances when traffic needs it"
            } else {
                "imggen.toml [cloud_run] max_instances / min_instances"
            },
        ));
        decisions.push(match &image.health_path {
            Some(h) => decision(
                "probes",
                format!("startup and liveness GET {h}"),
                "the plan's health route",
            ),
            None => decision(
                "probes",
                format!("startup TCP on port {}", image.port),
                "no health route found; set health_path for an HTTP check",
            ),
        });
    }
    decisions.push(decision(
        "resources",
        format!("{cpu} CPU, {memory}"),
        "imggen's default unless [cloud_run] cpu / memory are set",
    ));
    Ok(CloudRunPlan {
        name,
        job,
        image: img,
        image_placeholder: placeholder,
        max_instances: max,
        min_instances: min,
        cpu,
        memory,
        concurrency,
        decisions,
    })
}

fn decide_render(image: &ImagePlan, config: &Config, name: &str) -> RenderPlan {
    let c = config.render.clone().unwrap_or_default();
    let mut decisions = Vec::new();
    let kind = if image.server { "web" } else { "worker" };
    decisions.push(decision(
        "service type",
        kind,
        if image.server {
            "the binary serves HTTP"
        } else {
            "the binary serves nothing"
        },
    ));
    let service = c.service.unwrap_or_else(|| name.to_string());
    if image.server {
        decisions.push(decision(
            "PORT",
            image.port.to_string(),
            "the plan's port, so Render routes where the app listens; Render's default is 10000",
        ));
    }
    let plan = c.plan.unwrap_or_else(|| DEFAULT_RENDER_PLAN.into());
    let region = c.region.unwrap_or_else(|| DEFAULT_RENDER_REGION.into());
    decisions.push(decision(
        "plan and region",
        format!("{plan}, {region}"),
        "imggen's defaults, the smallest plan that never sleeps; set [render] plan and region",
    ));
    RenderPlan {
        service,
        kind: kind.into(),
        plan,
        region,
        decisions,
    }
}

fn decide_vm(image: &ImagePlan, config: &Config, name: &str) -> Result<VmPlan> {
    let c = config.vm.clone().unwrap_or_default();
    let mut decisions = Vec::new();
    decisions.push(decision(
        "unit",
        format!("{name}.service"),
        "hardened systemd unit: dynamic user, read-only system, system call filter",
    ));
    let work_dir = (!image.runtime_dirs.is_empty()).then(|| format!("/opt/{name}"));
    if let Some(w) = &work_dir {
        decisions.push(decision(
            "working directory",
            w,
            "the app reads run-time files relative to it: copy them there",
        ));
    }
    let domain = c.domain.unwrap_or_else(|| DEFAULT_DOMAIN.into());
    if domain.is_empty()
        || !domain
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
    {
        bail!("imggen.toml [vm] domain = \"{domain}\" is not a host name; set one like \"api.example.org\"");
    }
    let placeholder = domain == DEFAULT_DOMAIN;
    if let Some(dir) = &c.static_dir {
        if dir.is_empty()
            || dir.starts_with('/')
            || dir.split('/').any(|p| p == "..")
            || dir.contains(char::is_whitespace)
        {
            bail!("imggen.toml [vm] static_dir = \"{dir}\" must be a relative path inside the project, like \"frontend/dist\"");
        }
    }
    let proxy = image.server.then(|| c.proxy.unwrap_or_default());
    match proxy {
        Some(p) => {
            decisions.push(decision(
                "proxy",
                format!("{} for {domain}", proxy_name(p)),
                format!(
                    "{}; terminates TLS and forwards to 127.0.0.1:{}",
                    if c.proxy.is_some() {
                        "imggen.toml [vm] proxy"
                    } else {
                        "imggen's default, automatic HTTPS"
                    },
                    image.port
                ),
            ));
            if placeholder {
                decisions.push(decision("domain", &domain, "placeholder: set [vm] domain"));
            }
        }
        None => decisions.push(decision(
            "proxy",
            "none",
            "the binary serves nothing, so only the unit is written",
        )),
    }
    let static_root = format!("/var/www/{name}");
    if let (Some(dir), Some(_)) = (&c.static_dir, proxy) {
        decisions.push(decision(
            "static files",
            format!("{dir} -> {static_root}"),
            "imggen.toml [vm] static_dir: served by the proxy with the index.html fallback; /api/ goes to the app",
        ));
    }
    Ok(VmPlan {
        unit: name.to_string(),
        work_dir,
        proxy,
        domain,
        domain_placeholder: placeholder,
        static_dir: c.static_dir,
        static_root,
        decisions,
    })
}

fn proxy_name(p: Proxy) -> &'static str {
    match p {
        Proxy::Caddy => "caddy",
        Proxy::Nginx => "nginx",
    }
}

fn proxy_file(p: Proxy) -> &'static str {
    match p {
        Proxy::Caddy => "Caddyfile",
        Proxy::Nginx => "nginx.conf",
    }
}

/// Renders the files of every platform the plan selects, in `Platform::ALL` order.
pub fn render(plan: &ImagePlan) -> Result<Vec<GeneratedFile>> {
    let mut files = Vec::new();
    let d = &plan.deploy;
    if let Some(fly) = &d.fly {
        files.push(GeneratedFile {
            path: FLY_TOML.into(),
            contents: render_fly(plan, fly)?,
        });
    }
    if let Some(cr) = &d.cloud_run {
        let (path, contents) = render_cloud_run(plan, cr)?;
        files.push(GeneratedFile {
            path: path.into(),
            contents,
        });
    }
    if let Some(r) = &d.render {
        files.push(GeneratedFile {
            path: RENDER_YAML.into(),
            contents: render_render(plan, r)?,
        });
    }
    if let Some(vm) = &d.vm {
        files.extend(render_vm(plan, vm)?);
    }
    Ok(files)
}

fn render_fly(plan: &ImagePlan, fly: &FlyPlan) -> Result<String> {
    let mut ctx = base_context(plan);
    let env: Vec<_> = plan
        .env
        .iter()
        .map(|(k, v)| json!({ "key": toml_key(k), "value": toml_str(v) }))
        .collect();
    ctx.insert(
        "v",
        &json!({
            "app": toml_str(&fly.app),
            "primary_region": toml_str(&fly.primary_region),
            "region_default": fly.primary_region == DEFAULT_FLY_REGION,
            "kill_signal": toml_str(&plan.signal.stop_signal),
            "kill_timeout": STOP_TIMEOUT_SECS,
            "env": env,
            "auto_stop_machines": toml_str(&fly.auto_stop_machines),
            "min_machines_running": fly.min_machines_running,
            "health_path": plan.health_path.as_deref().map(toml_str),
            "release_command": fly.release_command.as_deref().map(toml_str),
            "image": fly.image.as_deref().map(toml_str),
            "size": toml_str(&fly.size),
            "memory": toml_str(&fly.memory),
            "cpus": fly.cpus,
            "cpu_kind": fly.cpu_kind.as_deref().map(toml_str),
        }),
    );
    render_template("fly.toml", &ctx)
}

fn yaml_env(plan: &ImagePlan) -> Vec<serde_json::Value> {
    plan.env
        .iter()
        .map(|(k, v)| json!({ "name": yaml_quote(k), "value": yaml_quote(v) }))
        .collect()
}

fn render_cloud_run(plan: &ImagePlan, cr: &CloudRunPlan) -> Result<(&'static str, String)> {
    let mut ctx = base_context(plan);
    ctx.insert(
        "v",
        &json!({
            "name": yaml_quote(&cr.name),
            "image": yaml_quote(&cr.image),
            "image_placeholder": cr.image_placeholder,
            "env": yaml_env(plan),
            "max_instances": cr.max_instances,
            "max_scale": yaml_quote(&cr.max_instances.to_string()),
            "min_scale": yaml_quote(&cr.min_instances.to_string()),
            "cpu": yaml_quote(&cr.cpu),
            "memory": yaml_quote(&cr.memory),
            "concurrency": cr.concurrency,
            "health_path": plan.health_path.as_deref().map(yaml_quote),
            "timeout": yaml_quote("600"),
        }),
    );
    if cr.job {
        Ok((CLOUD_RUN_JOB, render_template("cloud-run-job.yaml", &ctx)?))
    } else {
        Ok((
            CLOUD_RUN_SERVICE,
            render_template("cloud-run-service.yaml", &ctx)?,
        ))
    }
}

fn render_render(plan: &ImagePlan, r: &RenderPlan) -> Result<String> {
    let mut ctx = base_context(plan);
    let mut env = Vec::new();
    if plan.server {
        env.push(json!({ "key": yaml_quote("PORT"), "value": yaml_quote(&plan.port.to_string()) }));
    }
    env.extend(
        plan.env
            .iter()
            .map(|(k, v)| json!({ "key": yaml_quote(k), "value": yaml_quote(v) })),
    );
    ctx.insert(
        "v",
        &json!({
            "kind": yaml_quote(&r.kind),
            "name": yaml_quote(&r.service),
            "plan": yaml_quote(&r.plan),
            "region": yaml_quote(&r.region),
            "default_plan": r.plan == DEFAULT_RENDER_PLAN && r.region == DEFAULT_RENDER_REGION,
            "health_path": plan.health_path.as_deref().filter(|_| plan.server).map(yaml_quote),
            "env": env,
        }),
    );
    render_template("render.yaml", &ctx)
}

fn render_vm(plan: &ImagePlan, vm: &VmPlan) -> Result<Vec<GeneratedFile>> {
    let mut ctx = base_context(plan);
    let mut env: Vec<String> = plan
        .env
        .iter()
        .map(|(k, v)| systemd_quote(&format!("{k}={v}")))
        .collect();
    if plan.server {
        env.push(systemd_quote(&format!("PORT={}", plan.port)));
    }
    let runtime_dirs: Vec<String> = plan
        .runtime_dirs
        .iter()
        .map(|d| d.from.rsplit('/').next().unwrap_or(&d.from).to_string())
        .collect();
    ctx.insert(
        "v",
        &json!({
            "unit": vm.unit,
            "work_dir": vm.work_dir,
            "runtime_dirs": runtime_dirs.join(", "),
            "env": env,
            "stop_timeout": STOP_TIMEOUT_SECS,
            "domain": vm.domain,
            "domain_placeholder": vm.domain_placeholder,
            "static_dir": vm.static_dir,
            "static_root": vm.static_root,
            "upstream": format!("127.0.0.1:{}", plan.port),
        }),
    );
    let mut files = vec![GeneratedFile {
        path: format!("{VM_DIR}/{}.service", vm.unit),
        contents: render_template("vm.service", &ctx)?,
    }];
    if let Some(p) = vm.proxy {
        files.push(GeneratedFile {
            path: format!("{VM_DIR}/{}", proxy_file(p)),
            contents: render_template(proxy_file(p), &ctx)?,
        });
    }
    Ok(files)
}

/// The platform a generated path belongs to.
pub fn platform_of(path: &str) -> Option<Platform> {
    match path {
        FLY_TOML => Some(Platform::Fly),
        RENDER_YAML => Some(Platform::Render),
        p if p.starts_with("deploy/cloud-run/") => Some(Platform::CloudRun),
        p if p.starts_with("deploy/vm/") => Some(Platform::Vm),
        _ => None,
    }
}

/// Commented `[platform]` sections for the imggen.toml `init` writes: the table header is live
/// (an empty table changes nothing) and every key is commented out with its current value.
pub fn config_sections(plan: &ImagePlan) -> String {
    let mut out = String::new();
    let d = &plan.deploy;
    let mut section = |title: &str, table: &str, keys: Vec<(&str, String, &str)>| {
        out.push_str(&format!("\n# {title}\n[{table}]\n"));
        for (key, value, why) in keys {
            out.push_str(&format!("# {why}\n# {key} = {value}\n"));
        }
    };
    if let Some(f) = &d.fly {
        section(
            "Fly.io (fly.toml). Uncomment a key to change it.",
            "fly",
            vec![
                ("app", toml_str(&f.app), "App name; Fly app names are global."),
                ("primary_region", toml_str(&f.primary_region), "Region code (`fly platform regions`)."),
                ("auto_stop_machines", toml_str(&f.auto_stop_machines), "Idle machines: \"stop\", \"suspend\" or \"off\"."),
                ("min_machines_running", f.min_machines_running.to_string(), "Machines kept running in the primary region."),
                ("size", toml_str(&f.size), "Machine preset, e.g. \"shared-cpu-2x\" or \"performance-1x\"."),
                ("memory", toml_str(&f.memory), "Machine memory."),
                ("cpus", f.cpus.unwrap_or(1).to_string(), "CPUs (default: the preset's)."),
                ("cpu_kind", toml_str(f.cpu_kind.as_deref().unwrap_or("shared")), "\"shared\" or \"performance\" (default: the preset's)."),
                ("release_command", toml_str(f.release_command.as_deref().unwrap_or("/usr/local/bin/migrate")), "Run once per deploy before new machines start, e.g. migrations (default: none)."),
            ],
        );
    }
    if let Some(c) = &d.cloud_run {
        section(
            "Google Cloud Run (deploy/cloud-run/). Uncomment a key to change it.",
            "cloud_run",
            vec![
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
        );
    }
    if let Some(r) = &d.render {
        section(
            "Render (render.yaml). Uncomment a key to change it.",
            "render",
            vec![
                ("service", toml_str(&r.service), "Service name."),
                (
                    "plan",
                    toml_str(&r.plan),
                    "Instance type, e.g. \"free\", \"starter\", \"standard\".",
                ),
                (
                    "region",
                    toml_str(&r.region),
                    "oregon, ohio, virginia, frankfurt or singapore.",
                ),
            ],
        );
    }
    if let Some(v) = &d.vm {
        section(
            "A Linux server (deploy/vm/): systemd unit and TLS proxy. Uncomment a key to change it.",
            "vm",
            vec![
                ("domain", toml_str(&v.domain), "Domain the proxy serves and gets a certificate for."),
                ("proxy", toml_str(proxy_name(v.proxy.unwrap_or_default())), "\"caddy\" (automatic HTTPS) or \"nginx\" (with certbot)."),
                ("static_dir", toml_str(v.static_dir.as_deref().unwrap_or("frontend/dist")), "Built single-page frontend the proxy serves, /api/ going to the app (default: none)."),
            ],
        );
    }
    out
}

/// A TOML basic string on one line: `"` and `\` escaped, and every control character as an
/// escape, so a value can never open a multi-line string, end a comment or start a key.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_string()
    } else {
        toml_str(s)
    }
}

/// A YAML double-quoted scalar: always quoted, so YAML 1.1 readers (Cloud Run's Go parser,
/// PyYAML) never turn `yes`, `0755`, `1.10`, `2024-01-01` or `null` into a bool, number, date or
/// null. `"` and `\` are escaped, and so is every character YAML does not allow printed raw.
pub fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if yaml_printable(c) => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// YAML's printable set (c-printable), minus the byte-order mark.
fn yaml_printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

/// A systemd `Environment=` assignment, quoted: `"`, `\` escaped, `%` doubled (specifiers).
fn systemd_quote(assignment: &str) -> String {
    let mut out = String::from("\"");
    for ch in assignment.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A DNS label from a name: lowercase ASCII letters, digits and single hyphens, starting with a
/// letter (Fly, Cloud Run and systemd unit names all accept it).
fn dns_label(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        let c = ch.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "app-");
    }
    out.truncate(63);
    out.trim_end_matches('-').to_string()
}

fn check_label(key: &str, value: &str, max: usize) -> Result<()> {
    if dns_label(value) != value || value.len() > max {
        bail!("imggen.toml {key} = \"{value}\" is not a valid name; use at most {max} lowercase letters, digits and hyphens, starting with a letter");
    }
    Ok(())
}

fn valid_fly_memory(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let digits = lower.trim_end_matches("mb").trim_end_matches("gb");
    digits.len() < lower.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quote_escapes() {
        assert_eq!(yaml_quote("yes"), "\"yes\"");
        assert_eq!(yaml_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(yaml_quote("\u{7f}\u{1}"), "\"\\u007F\\u0001\"");
        assert_eq!(yaml_quote("é"), "\"é\"");
    }

    #[test]
    fn toml_strings_stay_on_one_line() {
        assert_eq!(toml_str("migrate"), r#""migrate""#);
        assert_eq!(toml_str("a\nb"), r#""a\nb""#);
        assert_eq!(toml_str(r#"say "hi" 'x' \"#), r#""say \"hi\" 'x' \\""#);
        assert_eq!(toml_str("\u{7f}\u{1}\u{85}"), r#""\u007F\u0001\u0085""#);
        for s in ["a\nb", "x'''y", r#"""""#, "\r\n", "a\\\"b", "\t$(id)"] {
            let doc = format!("k = {}\n", toml_str(s));
            assert_eq!(doc.lines().count(), 1, "{doc}");
            let t: toml::Table = toml::from_str(&doc).unwrap();
            assert_eq!(t["k"].as_str(), Some(s));
        }
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("hello_axum"), "hello-axum");
        assert_eq!(dns_label("API__Server"), "api-server");
        assert_eq!(dns_label("1up"), "app-1up");
        assert!(check_label("k", "Bad_Name", 63).is_err());
        assert!(check_label("k", "good-name", 63).is_ok());
    }

    #[test]
    fn paths_map_to_platforms() {
        assert_eq!(platform_of(FLY_TOML), Some(Platform::Fly));
        assert_eq!(platform_of(CLOUD_RUN_JOB), Some(Platform::CloudRun));
        assert_eq!(platform_of("deploy/vm/Caddyfile"), Some(Platform::Vm));
        assert_eq!(platform_of(RENDER_YAML), Some(Platform::Render));
        assert_eq!(platform_of("Dockerfile"), None);
    }

    #[test]
    fn image_references() {
        assert!(cloud_run_can_pull("europe-west1-docker.pkg.dev/p/r/api"));
        assert!(cloud_run_can_pull("docker.io/library/nginx"));
        assert!(!cloud_run_can_pull("api"));
        assert!(!cloud_run_can_pull("ghcr.io/acme/api"));
        assert_eq!(with_tag("ghcr.io/acme/api"), "ghcr.io/acme/api:latest");
        assert_eq!(with_tag("localhost:5000/api:1"), "localhost:5000/api:1");
        assert!(valid_fly_memory("512mb") && valid_fly_memory("1GB") && !valid_fly_memory("lots"));
    }
}

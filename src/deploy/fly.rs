//! Fly.io: `fly.toml`, from `[fly]` and the image plan. The `[fly]` values were checked
//! against Fly's grammar by `validate::config` before the plan was made.

use super::quote::{check_label, toml_key, toml_str};
use super::{InitSection, KeyValue, Target, STOP_TIMEOUT_SECS};
use crate::config::{Config, FlyConfig, Platform};
use crate::plan::{shown_args, Decision, ImagePlan, Topic};
use crate::template::{self, GeneratedFile};
use anyhow::{bail, Result};
use serde::Serialize;

/// Path of the Fly.io config.
pub const FLY_TOML: &str = "fly.toml";
/// Fly region when `[fly] primary_region` is unset (Ashburn, Virginia).
pub const DEFAULT_FLY_REGION: &str = "iad";
/// Fly machine preset when `[fly] size` is unset: the smallest.
pub const DEFAULT_FLY_SIZE: &str = "shared-cpu-1x";
/// Fly machine memory when `[fly] memory` is unset: enough for a typical Rust service.
pub const DEFAULT_FLY_MEMORY: &str = "256mb";

const FLY_CPUS: &[u32] = &[1, 2, 4, 8, 16];

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

/// What `templates/fly.toml.tera` prints, quoted for TOML.
#[derive(Serialize)]
struct FlyValues {
    app: String,
    primary_region: String,
    region_default: bool,
    kill_signal: String,
    kill_timeout: u32,
    env: Vec<KeyValue>,
    /// `NAME (what, where): fly secrets set NAME=...` for each variable without a value.
    unset: Vec<String>,
    auto_stop_machines: String,
    min_machines_running: u32,
    health_path: Option<String>,
    release_command: Option<String>,
    image: Option<String>,
    size: String,
    memory: String,
    cpus: Option<u32>,
    cpu_kind: Option<String>,
    /// The build context seen from fly.toml's directory ("." or "..") and the ignore file,
    /// when the context is above the project root.
    context_from_root: Option<String>,
    ignore_file: String,
}

impl Target for FlyPlan {
    fn platform() -> Platform {
        Platform::Fly
    }

    fn decide(image: &ImagePlan, config: &Config, name: &str) -> Result<(Self, Vec<String>)> {
        let c = config.fly.clone().unwrap_or_default();
        let mut decisions = Vec::new();
        let app = app(c.app.clone(), name, &mut decisions)?;
        let primary_region = primary_region(c.primary_region.clone(), &mut decisions);
        let auto_stop = c
            .auto_stop_machines
            .clone()
            .unwrap_or_else(|| "stop".into());
        let min_running = c.min_machines_running.unwrap_or(0);
        service(image, &auto_stop, min_running, &mut decisions);
        let (size, memory) = machine(&c, &mut decisions)?;
        let pinned = config
            .image
            .as_ref()
            .and_then(|i| i.pinned_ref(&image.name));
        if let Some(p) = &pinned {
            decisions.push(Decision::new(
                Topic::Image,
                p,
                "the digest `imggen build --push --write-digest` recorded: fly deploys it, no build",
            ));
        }
        if !image.args.is_empty() {
            decisions.push(Decision::new(
                Topic::Args,
                shown_args(&image.args),
                "the image's CMD: fly machines run it as built, so fly.toml needs no [processes]",
            ));
        }
        let release_command = match (&c.release_command, &image.release_args) {
            (Some(cmd), _) => {
                decisions.push(Decision::new(
                    Topic::ReleaseCommand,
                    cmd,
                    "imggen.toml [fly] release_command: runs once per deploy before new machines start",
                ));
                Some(cmd.clone())
            }
            (None, Some(args)) => {
                let cmd = shown_args(args);
                decisions.push(Decision::new(
                    Topic::ReleaseCommand,
                    &cmd,
                    "the plan's release task: fly runs it as the image's CMD (after the binary in ENTRYPOINT) once per deploy, before new machines start",
                ));
                Some(cmd)
            }
            (None, None) => None,
        };
        let plan = FlyPlan {
            app,
            primary_region,
            auto_stop_machines: auto_stop,
            min_machines_running: min_running,
            size,
            memory,
            cpus: c.cpus,
            cpu_kind: c.cpu_kind,
            release_command,
            image: pinned,
            decisions,
        };
        Ok((plan, Vec::new()))
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let ctx = &image.context;
        let v = FlyValues {
            context_from_root: (!ctx.root_in_context.is_empty()).then(|| ctx.from_root.clone()),
            ignore_file: toml_str(&ctx.ignore_file),
            app: toml_str(&self.app),
            primary_region: toml_str(&self.primary_region),
            region_default: self.primary_region == DEFAULT_FLY_REGION,
            kill_signal: toml_str(image.signal.stop_signal.as_str()),
            kill_timeout: STOP_TIMEOUT_SECS,
            env: image
                .env
                .iter()
                .map(|(k, v)| KeyValue {
                    key: toml_key(k),
                    value: toml_str(v),
                })
                .collect(),
            unset: image
                .vars
                .iter()
                .filter(|v| v.value.is_none())
                .map(|v| {
                    format!(
                        "{} ({}{}): fly secrets set {}=...",
                        v.name,
                        match (v.secret, v.required) {
                            (true, true) => "secret, required, ",
                            (true, false) => "secret, ",
                            (false, true) => "required, ",
                            (false, false) => "optional, ",
                        },
                        v.from,
                        v.name
                    )
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect()
                })
                .collect(),
            auto_stop_machines: toml_str(&self.auto_stop_machines),
            min_machines_running: self.min_machines_running,
            health_path: image.health_path.as_deref().map(toml_str),
            release_command: self.release_command.as_deref().map(toml_str),
            image: self.image.as_deref().map(toml_str),
            size: toml_str(&self.size),
            memory: toml_str(&self.memory),
            cpus: self.cpus,
            cpu_kind: self.cpu_kind.as_deref().map(toml_str),
        };
        Ok(vec![GeneratedFile {
            path: FLY_TOML.into(),
            contents: template::render("fly.toml", image, &v)?,
        }])
    }

    fn init_section(&self) -> InitSection {
        let f = self;
        InitSection {
            title: "Fly.io (fly.toml). Uncomment a key to change it.",
            table: "fly",
            keys: vec![
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
        }
    }
}

/// `[fly] app`, else the image name.
fn app(configured: Option<String>, name: &str, decisions: &mut Vec<Decision>) -> Result<String> {
    Ok(match configured {
        Some(app) => {
            check_label("[fly] app", &app, 63)?;
            decisions.push(Decision::new(Topic::App, &app, "imggen.toml [fly] app"));
            app
        }
        None => {
            decisions.push(Decision::new(
                Topic::App,
                name,
                "the image name; Fly app names are global, so set [fly] app if it is taken",
            ));
            name.to_string()
        }
    })
}

/// `[fly] primary_region` (its grammar checked by `validate`), else imggen's default.
fn primary_region(configured: Option<String>, decisions: &mut Vec<Decision>) -> String {
    let primary_region = configured.unwrap_or_else(|| DEFAULT_FLY_REGION.into());
    decisions.push(Decision::new(
        Topic::PrimaryRegion,
        &primary_region,
        if primary_region == DEFAULT_FLY_REGION {
            "imggen's default, Ashburn, Virginia; set [fly] primary_region"
        } else {
            "imggen.toml [fly] primary_region"
        },
    ));
    primary_region
}

/// The HTTP service, idle machines, health check and kill signal decisions.
fn service(image: &ImagePlan, auto_stop: &str, min_running: u32, decisions: &mut Vec<Decision>) {
    if image.server && !image.protocol.is_http() {
        decisions.push(Decision::new(
            Topic::HttpService,
            format!("TCP service, port {0} -> {0}", image.port),
            "the app speaks its own protocol over TCP: a [[services]] entry passes the connections through, checked by a TCP connect",
        ));
    } else if image.server {
        decisions.push(Decision::new(
            Topic::HttpService,
            format!("internal port {}", image.port),
            "the plan's port; HTTPS forced at Fly's edge",
        ));
        decisions.push(Decision::new(
            Topic::IdleMachines,
            format!("{auto_stop}, {min_running} kept running"),
            "stopped when idle and started by the next request: the cheapest; set [fly] auto_stop_machines and min_machines_running",
        ));
        decisions.push(match &image.health_path {
            Some(h) => Decision::new(
                Topic::HealthCheck,
                format!("GET {h}"),
                "the plan's health route",
            ),
            None => Decision::new(
                Topic::HealthCheck,
                "none",
                "no health route found; set health_path",
            ),
        });
    } else {
        decisions.push(Decision::new(
            Topic::HttpService,
            "none",
            "the binary serves nothing, so no port is routed to it",
        ));
    }
    decisions.push(Decision::new(
        Topic::KillSignal,
        format!("{}, {STOP_TIMEOUT_SECS} s", image.signal.stop_signal),
        "the image's STOPSIGNAL, and Docker's grace period",
    ));
}

/// The machine preset and memory, with `cpus` and `cpu_kind` checked.
fn machine(c: &FlyConfig, decisions: &mut Vec<Decision>) -> Result<(String, String)> {
    let size = c.size.clone().unwrap_or_else(|| DEFAULT_FLY_SIZE.into());
    let memory = c
        .memory
        .clone()
        .unwrap_or_else(|| DEFAULT_FLY_MEMORY.into());
    if let Some(n) = c.cpus {
        if !FLY_CPUS.contains(&n) {
            bail!("imggen.toml [fly] cpus = {n} is not supported; use 1, 2, 4, 8 or 16");
        }
    }
    decisions.push(Decision::new(
        Topic::Machine,
        format!("{size}, {memory}"),
        if size == DEFAULT_FLY_SIZE && memory == DEFAULT_FLY_MEMORY {
            "the smallest preset, enough for a typical Rust service; set [fly] size and memory"
        } else {
            "imggen.toml [fly] size / memory"
        },
    ));
    Ok((size, memory))
}

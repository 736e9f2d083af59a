//! Render (render.com): a Blueprint, `render.yaml`, from `[render]` and the image plan.

use super::quote::{toml_str, yaml_quote};
use super::{InitSection, KeyValue, Target};
use crate::config::{Config, Platform};
use crate::plan::{Decision, ImagePlan, Topic};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;

/// Path of the Render Blueprint.
pub const RENDER_YAML: &str = "render.yaml";
/// Render plan when `[render] plan` is unset: the smallest that never sleeps.
pub const DEFAULT_RENDER_PLAN: &str = "starter";
/// Render region when `[render] region` is unset (Render's own default).
pub const DEFAULT_RENDER_REGION: &str = "oregon";

/// The kind of Render service.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Serves HTTP on `PORT`.
    Web,
    /// Serves nothing.
    Worker,
    /// Serves its own protocol over TCP: a private service, reachable from the account's other
    /// services only (Render routes only HTTP from the internet).
    Pserv,
}

impl ServiceKind {
    fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Web => "web",
            ServiceKind::Worker => "worker",
            ServiceKind::Pserv => "pserv",
        }
    }
}

/// render.yaml settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RenderPlan {
    /// Service name.
    pub service: String,
    /// A web service for servers, a worker otherwise.
    pub kind: ServiceKind,
    /// Instance type, e.g. "starter".
    pub plan: String,
    /// Region, e.g. "oregon".
    pub region: String,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

/// What `templates/render.yaml.tera` prints, quoted for YAML.
#[derive(Serialize)]
struct RenderValues {
    kind: String,
    name: String,
    plan: String,
    region: String,
    default_plan: bool,
    health_path: Option<String>,
    env: Vec<KeyValue>,
    /// `dockerfilePath` and `dockerContext`, relative to the repository root as Render reads
    /// them (to the build context when there is no repository).
    dockerfile_path: String,
    docker_context: String,
    /// Variables Render asks for in its dashboard (`sync: false`): secrets and required
    /// variables without a value, quoted.
    prompted: Vec<String>,
}

impl Target for RenderPlan {
    fn platform() -> Platform {
        Platform::Render
    }

    fn decide(image: &ImagePlan, config: &Config, name: &str) -> Result<(Self, Vec<String>)> {
        let c = config.render.clone().unwrap_or_default();
        let mut decisions = Vec::new();
        let kind = match (image.server, image.protocol.is_http()) {
            (true, true) => ServiceKind::Web,
            (true, false) => ServiceKind::Pserv,
            (false, _) => ServiceKind::Worker,
        };
        decisions.push(Decision::new(
            Topic::ServiceType,
            kind.as_str(),
            match kind {
                ServiceKind::Web => "the binary serves HTTP",
                ServiceKind::Pserv => "the binary speaks its own protocol over TCP: a private service, which the account's other services reach (Render routes only HTTP from the internet)",
                ServiceKind::Worker => "the binary serves nothing",
            },
        ));
        let service = c.service.unwrap_or_else(|| name.to_string());
        if image.server {
            decisions.push(Decision::new(
                Topic::PortEnv,
                image.port.to_string(),
                "the plan's port, so Render routes where the app listens; Render's default is 10000",
            ));
        }
        if !image.args.is_empty() {
            decisions.push(Decision::new(
                Topic::Args,
                crate::plan::shown_args(&image.args),
                "the image's CMD: Render runs it as built, so render.yaml sets no dockerCommand",
            ));
        }
        let plan = c.plan.unwrap_or_else(|| DEFAULT_RENDER_PLAN.into());
        let region = c.region.unwrap_or_else(|| DEFAULT_RENDER_REGION.into());
        decisions.push(Decision::new(
            Topic::PlanAndRegion,
            format!("{plan}, {region}"),
            "imggen's defaults, the smallest plan that never sleeps; set [render] plan and region",
        ));
        let plan = RenderPlan {
            service,
            kind,
            plan,
            region,
            decisions,
        };
        Ok((plan, Vec::new()))
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let quoted = |key: &str, value: &str| KeyValue {
            key: yaml_quote(key),
            value: yaml_quote(value),
        };
        let mut env = Vec::new();
        if image.server {
            env.push(quoted("PORT", &image.port.to_string()));
        }
        env.extend(image.env.iter().map(|(k, v)| quoted(k, v)));
        let ctx = &image.context;
        let context = match ctx.in_repo.as_deref() {
            Some(dir) if !dir.is_empty() => format!("./{dir}"),
            _ => ".".to_string(),
        };
        let v = RenderValues {
            dockerfile_path: yaml_quote(&format!("{context}/{}", ctx.dockerfile)),
            docker_context: yaml_quote(&context),
            kind: yaml_quote(self.kind.as_str()),
            name: yaml_quote(&self.service),
            plan: yaml_quote(&self.plan),
            region: yaml_quote(&self.region),
            default_plan: self.plan == DEFAULT_RENDER_PLAN && self.region == DEFAULT_RENDER_REGION,
            health_path: image
                .health_path
                .as_deref()
                .filter(|_| image.server)
                .map(yaml_quote),
            env,
            prompted: image
                .vars
                .iter()
                .filter(|v| v.value.is_none() && (v.secret || v.required))
                .map(|v| yaml_quote(&v.name))
                .collect(),
        };
        Ok(vec![GeneratedFile {
            path: RENDER_YAML.into(),
            contents: template::render("render.yaml", image, &v)?,
        }])
    }

    fn init_section(&self) -> InitSection {
        InitSection {
            title: "Render (render.yaml). Uncomment a key to change it.",
            table: "render",
            keys: vec![
                ("service", toml_str(&self.service), "Service name."),
                (
                    "plan",
                    toml_str(&self.plan),
                    "Instance type, e.g. \"free\", \"starter\", \"standard\".",
                ),
                (
                    "region",
                    toml_str(&self.region),
                    "oregon, ohio, virginia, frankfurt or singapore.",
                ),
            ],
        }
    }
}

//! Deploy targets (Fly.io, Cloud Run, Render, a VM pack, CI pipelines): the second half of the plan, and the
//! files each target writes.
//!
//! [`plan`] builds the whole [`Plan`] in one pass: the image (`crate::plan`), then each target
//! the image's `platforms` select decides its own settings from its imggen.toml section (pure),
//! each decision with its reason. Every value a deploy file shares with the image (port, health
//! route, binary, stop signal, env) is read from the `ImagePlan`, never decided here.
//!
//! A target is one module here implementing [`Target`], its templates in `templates/`, and one
//! line in the `registry!` below.

pub mod ci;
pub mod cloud_run;
pub mod fly;
pub mod github_actions;
pub mod gitlab_ci;
pub mod quote;
pub mod render;
pub mod vm;

use crate::config::{Config, Platform};
use crate::model::ProjectModel;
use crate::plan::{Decision, ImagePlan};
use crate::template::GeneratedFile;
use anyhow::Result;
use serde::Serialize;

/// Seconds between the stop signal and SIGKILL where the platform lets us choose (fly
/// `kill_timeout`, systemd `TimeoutStopSec`); Docker's and Cloud Run's fixed grace is 10 s too.
pub const STOP_TIMEOUT_SECS: u32 = 10;

/// One deploy target, implemented by the plan it decides.
pub trait Target {
    /// The `platforms` entry (and `--platform` value) that selects it.
    fn platform() -> Platform
    where
        Self: Sized;

    /// Decides its settings from the image plan and its imggen.toml section (pure); also returns
    /// warnings about placeholders to replace before deploying. `name` is the image name as a
    /// DNS label.
    fn decide(image: &ImagePlan, config: &Config, name: &str) -> Result<(Self, Vec<String>)>
    where
        Self: Sized;

    /// What was decided and why, for `imggen plan`.
    fn decisions(&self) -> &[Decision];

    /// The files it writes, through its templates.
    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>>;

    /// Its commented section of the imggen.toml `init` writes.
    fn init_section(&self) -> InitSection;
}

/// A commented `[table]` of the imggen.toml `init` writes: the header is live (an empty table
/// changes nothing) and every key is commented out with its current value.
pub struct InitSection {
    /// The comment above the table.
    pub title: &'static str,
    /// The table's name, e.g. `cloud_run`.
    pub table: &'static str,
    /// (key, current value as TOML, what it means).
    pub keys: Vec<(&'static str, String, &'static str)>,
}

/// An environment entry of a deploy file, quoted for its format.
#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: String,
}

/// The registry: one line per target, in the order `imggen plan` shows them and files are
/// written. It defines [`DeployPlan`], one optional field per target.
macro_rules! registry {
    ($($field:ident: $plan:ty,)*) => {
        /// Each target's decisions, None when its platform is not selected.
        #[derive(Debug, Clone, Serialize, PartialEq, Default)]
        pub struct DeployPlan {
            $(pub $field: Option<$plan>,)*
        }

        impl DeployPlan {
            /// Decides every target `image` selects; also returns their warnings.
            fn decide(image: &ImagePlan, config: &Config) -> Result<(DeployPlan, Vec<String>)> {
                let name = quote::dns_label(&image.name);
                let mut warnings = Vec::new();
                let plan = DeployPlan {
                    $($field: decide::<$plan>(image, config, &name, &mut warnings)?,)*
                };
                Ok((plan, warnings))
            }

            /// The selected targets, in registry order.
            pub fn selected(&self) -> Vec<(Platform, &dyn Target)> {
                let mut out: Vec<(Platform, &dyn Target)> = Vec::new();
                $(if let Some(p) = &self.$field {
                    out.push((<$plan as Target>::platform(), p));
                })*
                out
            }
        }
    };
}

registry! {
    fly: fly::FlyPlan,
    cloud_run: cloud_run::CloudRunPlan,
    render: render::RenderPlan,
    vm: vm::VmPlan,
    github_actions: github_actions::GithubActionsPlan,
    gitlab_ci: gitlab_ci::GitlabCiPlan,
}

/// Decides target `T` when the image selects its platform.
fn decide<T: Target>(
    image: &ImagePlan,
    config: &Config,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<T>> {
    if !image.platforms.contains(&T::platform()) {
        return Ok(None);
    }
    let (plan, more) = T::decide(image, config, name)?;
    warnings.extend(more);
    Ok(Some(plan))
}

/// The whole plan: the image, then the deploy decisions that read it, and every warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Everything the image needs.
    pub image: ImagePlan,
    /// Decisions only the deploy files use (app names, regions, instance limits, proxy).
    pub deploy: DeployPlan,
    /// Warnings about the image, then about the deploy files.
    pub warnings: Vec<String>,
}

impl Serialize for Plan {
    /// The image's fields, then `deploy`, `warnings` and the image's `decisions`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            image: &'a ImagePlan,
            deploy: &'a DeployPlan,
            warnings: &'a [String],
            decisions: &'a [Decision],
        }
        View {
            image: &self.image,
            deploy: &self.deploy,
            warnings: &self.warnings,
            decisions: &self.image.decisions,
        }
        .serialize(serializer)
    }
}

/// Plans `model` under `config` in one pass: the image, then each selected deploy target.
pub fn plan(model: &ProjectModel, config: &Config) -> Result<Plan> {
    let (image, mut warnings) = crate::plan::image(model, config)?;
    let (deploy, deploy_warnings) = DeployPlan::decide(&image, config)?;
    warnings.extend(deploy_warnings);
    Ok(Plan {
        image,
        deploy,
        warnings,
    })
}

/// The files of every selected target, in registry order.
pub fn files(plan: &Plan) -> Result<Vec<GeneratedFile>> {
    let mut files = Vec::new();
    for (_, target) in plan.deploy.selected() {
        files.extend(target.files(&plan.image)?);
    }
    Ok(files)
}

/// The commented sections of every selected target for the imggen.toml `init` writes; targets
/// sharing a table (the CI pipelines' `[ci]`) write it once.
pub fn config_sections(plan: &Plan) -> String {
    let mut out = String::new();
    let mut tables = Vec::new();
    for (_, target) in plan.deploy.selected() {
        let section = target.init_section();
        if tables.contains(&section.table) {
            continue;
        }
        tables.push(section.table);
        out.push_str(&format!("\n# {}\n[{}]\n", section.title, section.table));
        for (key, value, why) in section.keys {
            out.push_str(&format!("# {why}\n# {key} = {value}\n"));
        }
    }
    out
}

//! GitLab CI: `.gitlab-ci.yml`, which checks the generated files, builds and pushes the image,
//! and deploys its digest to the other selected targets.

use super::ci::CiPlan;
use super::{InitSection, Target};
use crate::config::{Config, Platform};
use crate::plan::{Decision, ImagePlan};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;

/// Path of the pipeline.
pub const PIPELINE: &str = ".gitlab-ci.yml";

/// The pipeline's settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GitlabCiPlan {
    #[serde(flatten)]
    pub ci: CiPlan,
}

impl Target for GitlabCiPlan {
    fn platform() -> Platform {
        Platform::GitlabCi
    }

    fn decide(image: &ImagePlan, config: &Config, _name: &str) -> Result<(Self, Vec<String>)> {
        let (ci, warnings) = CiPlan::decide(
            image,
            config,
            None,
            &format!("$CI_REGISTRY_IMAGE/{}", image.name),
            "GitLab CI",
        );
        Ok((GitlabCiPlan { ci }, warnings))
    }

    fn decisions(&self) -> &[Decision] {
        &self.ci.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let v = self.ci.values(format!("$CI_REGISTRY_IMAGE/{}", image.name));
        Ok(vec![GeneratedFile {
            path: PIPELINE.into(),
            contents: template::render("gitlab-ci.yml", image, &v)?,
        }])
    }

    fn init_section(&self) -> InitSection {
        InitSection {
            title: "CI pipelines (GitHub Actions, GitLab CI). Uncomment a key to change it.",
            table: "ci",
            keys: self.ci.init_keys(),
        }
    }
}

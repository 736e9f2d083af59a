//! GitHub Actions: `.github/workflows/imggen.yml`, which checks the generated files, builds and
//! pushes the image, and deploys its digest to the other selected targets.

use super::ci::CiPlan;
use super::{InitSection, Target};
use crate::config::{Config, Platform};
use crate::plan::{Decision, ImagePlan};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;

/// Path of the workflow.
pub const WORKFLOW: &str = ".github/workflows/imggen.yml";

/// The workflow's settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GithubActionsPlan {
    #[serde(flatten)]
    pub ci: CiPlan,
}

impl Target for GithubActionsPlan {
    fn platform() -> Platform {
        Platform::GithubActions
    }

    fn decide(image: &ImagePlan, config: &Config, _name: &str) -> Result<(Self, Vec<String>)> {
        let (ci, warnings) = CiPlan::decide(
            image,
            config,
            Some("ghcr.io"),
            &format!("ghcr.io/<owner>/{}", image.name),
            "GitHub Actions",
        );
        Ok((GithubActionsPlan { ci }, warnings))
    }

    fn decisions(&self) -> &[Decision] {
        &self.ci.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let v = self.ci.values(format!(
            "ghcr.io/${{GITHUB_REPOSITORY_OWNER,,}}/{}",
            image.name
        ));
        Ok(vec![GeneratedFile {
            path: WORKFLOW.into(),
            contents: template::render("github-actions.yml", image, &v)?,
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

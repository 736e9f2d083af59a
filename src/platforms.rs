//! Platform files (fly.toml, Cloud Run, Render, a VM pack), rendered from the `ImagePlan`.

use crate::config::Platform;
use crate::plan::ImagePlan;
use crate::render::GeneratedFile;
use anyhow::Result;

/// Platform templates, embedded at compile time: (name, text).
pub const TEMPLATES: &[(&str, &str)] = &[];

/// Renders the files of every platform the plan selects.
pub fn render(_plan: &ImagePlan) -> Result<Vec<GeneratedFile>> {
    Ok(Vec::new())
}

/// The platform a generated path belongs to.
pub fn platform_of(_path: &str) -> Option<Platform> {
    None
}

/// Commented `[platform]` sections for the imggen.toml `init` writes.
pub fn config_sections(_plan: &ImagePlan) -> String {
    String::new()
}

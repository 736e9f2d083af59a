//! The pipeline, run once per command: find the project root, analyze it, resolve the
//! configuration layers, plan (image and deploy targets in one pass), check the tree and
//! generate every file. IO lives here and in `analyze`; `plan`, `deploy` and `generate` are pure.
//!
//! Clap-free: the command line hands it the flags as a [`Config`] layer.

use crate::config::{self, Config};
use crate::deploy::{self, Plan};
use crate::keep::Kept;
use crate::model::ProjectModel;
use crate::template::GeneratedFile;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Everything the pipeline produced for one project.
pub struct Loaded {
    pub root: PathBuf,
    /// The path the command was given (a workspace member selects its binary).
    pub path: PathBuf,
    pub model: ProjectModel,
    /// The flags' layer, kept so the project can be loaded again (after `--write-digest`).
    pub flags: Config,
    /// The resolved configuration (file, environment, flags).
    pub config: Config,
    pub plan: Plan,
    /// Every warning: the plan's, then the tree's (secret-looking files in copied directories).
    pub warnings: Vec<String>,
    pub files: Vec<GeneratedFile>,
}

/// Finds the project root of `path` (see [`project_root`]), then loads it with its imggen.toml.
pub fn load(path: &Path, flags: &Config) -> Result<Loaded> {
    let root = project_root(path)?;
    load_at(&root, path, flags, true)
}

/// The project root for the given path, found as cargo finds it; says on stderr which root it
/// chose when that is not the given path.
pub fn project_root(path: &Path) -> Result<PathBuf> {
    let root = crate::analyze::find_root(path)?;
    if root != path {
        eprintln!("using project root {}", root.display());
    }
    Ok(root)
}

/// Loads the project at `root`, found from `path` (the member it names is the one invoked);
/// `with_config_file` false ignores imggen.toml (`init --force` starts over from the analysis
/// and the flags).
pub fn load_at(root: &Path, path: &Path, flags: &Config, with_config_file: bool) -> Result<Loaded> {
    let root = root.to_path_buf();
    let mut model = crate::analyze::analyze(&root)?;
    model.invoked = crate::analyze::invoked_package(path, &root)
        .filter(|dir| model.packages.iter().any(|p| &p.dir == dir));
    let file_config = if with_config_file {
        read_config_file(&root)?
    } else {
        None
    };
    let env = imggen_env()?;
    let env = Config::from_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let config = Config::resolve(file_config, env, flags.clone());
    let plan = deploy::plan(&model, &config)?;
    let copied: Vec<String> = plan
        .image
        .runtime_dirs
        .iter()
        .map(|d| d.from.clone())
        .collect();
    let tree_warnings = crate::secrets::check_tree(&root, &config, &copied)?;
    let kept = kept_rules(&root, &model, &plan)?;
    let files = crate::generate::files_kept(&plan, &kept)?;
    let warnings = plan
        .warnings
        .iter()
        .cloned()
        .chain(tree_warnings)
        .chain(kept.warnings.iter().cloned())
        .collect();
    Ok(Loaded {
        root,
        path: path.to_path_buf(),
        model,
        flags: flags.clone(),
        config,
        plan,
        warnings,
        files,
    })
}

/// The user's `.dockerignore` rules to keep (see [`crate::keep`]), filtered against imggen's own.
fn kept_rules(root: &Path, model: &ProjectModel, plan: &Plan) -> Result<Kept> {
    let Some(text) = crate::keep::read(root) else {
        return Ok(Kept::default());
    };
    let ours = crate::generate::files(plan)?
        .into_iter()
        .find(|f| f.path == ".dockerignore")
        .map(|f| crate::dockerignore::read_patterns(&f.contents))
        .unwrap_or_default();
    Ok(crate::keep::filter(
        &crate::keep::user_rules(&text),
        &ours,
        model,
        &plan.image,
    ))
}

/// The `IMGGEN_*` variables of the environment. Other variables are not imggen's and are not
/// read, whatever their encoding; an `IMGGEN_*` name or value that is not UTF-8 is an error.
fn imggen_env() -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else {
            let lossy = name.to_string_lossy();
            if lossy.starts_with("IMGGEN_") {
                bail!("environment variable {lossy} has a name that is not UTF-8; unset it");
            }
            continue;
        };
        if !name.starts_with("IMGGEN_") {
            continue;
        }
        let Some(value) = value.to_str() else {
            bail!("environment variable {name} is not valid UTF-8; set it to a UTF-8 value or unset it");
        };
        vars.push((name.to_string(), value.to_string()));
    }
    Ok(vars)
}

/// Reads `imggen.toml` at `root`, when there is one.
pub fn read_config_file(root: &Path) -> Result<Option<Config>> {
    let path = root.join(config::FILE_NAME);
    crate::analyze::read_text(&path)?
        .map(|text| Config::parse_file(&text, &path.display().to_string()))
        .transpose()
}

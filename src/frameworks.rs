//! What each server framework does by itself (`data/frameworks.toml`): default address and
//! port, the env vars that move them, built-in health routes, signal handling, the command its
//! binary needs, and why a plain image cannot run it. The source scan and the plan read it.

use serde::Deserialize;
use std::sync::LazyLock;

/// One framework's conventions.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub name: String,
    /// Crate names whose paths in the code mean the framework is used.
    pub crates: Vec<String>,
    /// `http`, `grpc` or `tcp`.
    pub protocol: String,
    /// Listen host when the code names none ("" when the code must).
    #[serde(default)]
    pub host: String,
    /// Listen port when the code names none (0 when the code must).
    #[serde(default)]
    pub port: u16,
    /// Env var that moves the listen address.
    #[serde(default)]
    pub host_env: String,
    /// Env var that moves the port.
    #[serde(default)]
    pub port_env: String,
    /// Routes it serves by itself.
    #[serde(default)]
    pub health: Vec<String>,
    /// It stops gracefully on SIGTERM and SIGINT when it runs the server.
    #[serde(default)]
    pub signals: bool,
    /// Arguments its binary needs to serve.
    #[serde(default)]
    pub command: Vec<String>,
    /// Directories it reads at run time from its working directory by convention (loco's
    /// `config/<environment>.yaml`), shipped in the image when the project has them.
    #[serde(default)]
    pub runtime_dirs: Vec<String>,
    /// Why a plain cargo image cannot run it, and what to do ("" when it can).
    #[serde(default)]
    pub refuse: String,
    /// The HTTP frameworks whose server carries this gRPC one (poem-grpc runs on poem's): used
    /// together, the server speaks gRPC.
    #[serde(default)]
    pub runs_on: Vec<String>,
}

/// Every framework of `data/frameworks.toml`, parsed once.
pub fn all() -> &'static [Framework] {
    #[derive(Deserialize)]
    struct File {
        framework: Vec<Framework>,
    }
    static ALL: LazyLock<Vec<Framework>> = LazyLock::new(|| {
        toml::from_str::<File>(include_str!("../data/frameworks.toml"))
            .unwrap_or_else(|e| panic!("data/frameworks.toml is invalid: {e}"))
            .framework
    });
    &ALL
}

/// The framework named `name`.
pub fn by_name(name: &str) -> Option<&'static Framework> {
    all().iter().find(|f| f.name == name)
}

/// The framework a crate (as code names it, `-` as `_`) belongs to.
pub fn by_crate(krate: &str) -> Option<&'static Framework> {
    all().iter().find(|f| f.crates.iter().any(|c| c == krate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_valid() {
        assert!(all().len() >= 10);
        for f in all() {
            assert!(
                ["http", "grpc", "tcp"].contains(&f.protocol.as_str()),
                "{}",
                f.name
            );
            assert!(f.health.iter().all(|h| h.starts_with('/')), "{}", f.name);
        }
        assert_eq!(by_crate("rocket").unwrap().port, 8000);
        assert_eq!(by_crate("loco_rs").unwrap().health, ["/_ping", "/_health"]);
        assert_eq!(
            by_crate("loco_rs").unwrap().runtime_dirs,
            ["config", "assets"]
        );
        assert!(!by_name("shuttle").unwrap().refuse.is_empty());
    }
}

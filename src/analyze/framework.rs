//! Framework conventions that need the project's own files: Rocket.toml, Leptos's
//! `[package.metadata.leptos]`. What a framework does by itself is data (`data/frameworks.toml`).

use crate::model::{FrameworkUse, PortEvidence, PortKind};
use std::path::Path;

/// Rocket's port and address from `Rocket.toml`: `[global]` over `[release]` (the profile of a
/// release build, which the image runs) over `[default]`, each key on its own.
pub fn rocket_toml(root: &Path) -> Option<PortEvidence> {
    let path = root.join("Rocket.toml");
    let text = std::fs::read_to_string(&path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let lines = super::source::LineIndex::new(&text);
    let mut port = None;
    let mut address = None;
    for profile in ["global", "release", "default"] {
        let Some(t) = table.get(profile).and_then(|t| t.as_table()) else {
            continue;
        };
        if port.is_none() {
            port = t
                .get("port")
                .and_then(|p| p.as_integer())
                .and_then(|p| u16::try_from(p).ok())
                .map(|p| (p, profile));
        }
        if address.is_none() {
            address = t.get("address").and_then(|a| a.as_str()).map(String::from);
        }
    }
    let (port, profile) = port?;
    let header = text.find(&format!("[{profile}]")).unwrap_or(0);
    let at = text[header..].find("port").map_or(header, |i| header + i);
    Some(PortEvidence {
        port,
        host: address,
        at: format!("Rocket.toml:{}", lines.line(at)),
        kind: PortKind::ConfigFile,
    })
}

/// `[package.metadata.leptos]` in the package's Cargo.toml: the app is built with cargo-leptos.
pub fn leptos_metadata(root: &Path, base: &Path) -> Option<FrameworkUse> {
    let path = base.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).ok()?;
    let offset = text.find("[package.metadata.leptos]")?;
    Some(FrameworkUse {
        name: "cargo-leptos".into(),
        at: format!(
            "{}:{}",
            crate::paths::relative_or_whole(root, &path),
            super::source::LineIndex::new(&text).line(offset)
        ),
    })
}

//! The source scan: listen ports, signal handling, health routes, run-time files.
//!
//! It reads `.rs` files of a package (and the workspace members it depends on by path) with
//! regular expressions. It is a heuristic by design: every finding is recorded with `file:line`
//! evidence so `imggen plan` can show why, and every finding can be overridden in imggen.toml.

use crate::model::{Package, PortEvidence, PortKind, SignalFacts, SourceFacts, HEALTH_PATHS};
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;
use walkdir::WalkDir;

/// Directory names that commonly hold files a service reads at run time.
pub const RUNTIME_DIR_CANDIDATES: &[&str] = &[
    "migrations",
    "configuration",
    "config",
    "static",
    "assets",
    "templates",
    "public",
    "resources",
];

static ADDR_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]|\[::1\]|::):(\d{2,5})""#).unwrap()
});
static ADDR_ARRAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\(\s*\[\s*(0|127)\s*,\s*0\s*,\s*0\s*,\s*(0|1)\s*\]\s*,\s*(\d{2,5})\s*\)").unwrap()
});
static ADDR_TUPLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\(\s*"(0\.0\.0\.0|127\.0\.0\.1|localhost|::)"\s*,\s*(\d{2,5})\s*\)"#).unwrap()
});
static PORT_ENV: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"var(?:_os)?\(\s*"PORT"\s*\)"#).unwrap());
static PORT_DEFAULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)^.{0,160}?unwrap_or[a-z_]*\(\s*(?:\|[^|]*\|\s*)?(?:"(\d{2,5})"|(\d{2,5}))"#)
        .unwrap()
});
static SERVER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"TcpListener::bind|UdpSocket::bind|axum::serve|HttpServer::new|warp::serve|rocket::build|#\[(rocket::)?launch\]|Server::bind|Server::builder|poem::Server|salvo::|\.bind\(|serve_connection|tiny_http::Server").unwrap()
});
static SIGTERM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"SignalKind::terminate\(\)|SIGTERM|Signal::Term\b|HttpServer::new|rocket::build|#\[(rocket::)?launch\]").unwrap()
});
static SIGINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"ctrl_c\(\)|ctrlc::set_handler|SIGINT|SignalKind::interrupt\(\)").unwrap()
});
static STRING_LIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""([^"\\\n]*)""#).unwrap());
static COMPILE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"include_str!|include_bytes!|include_dir!|migrate!|embed_migrations!|#\[folder|#\[template|RustEmbed|include_static").unwrap()
});
static CONFIG_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)^\s*(?:port|PORT|APP_PORT|APPLICATION_PORT)\s*[:=]\s*["']?(\d{2,5})["']?\s*$"#,
    )
    .unwrap()
});

/// Scans a package's sources: `src/` and the folders of binaries whose path lies outside it.
pub fn scan_package(root: &Path, pkg: &Package) -> SourceFacts {
    let mut facts = SourceFacts::default();
    let base = root.join(&pkg.dir);
    let mut dirs = vec![base.join("src")];
    for bin in &pkg.bins {
        let dir = root
            .join(&bin.path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| base.clone());
        if !dirs.iter().any(|d| dir.starts_with(d)) {
            dirs.push(dir);
        }
    }
    scan_dirs(root, &pkg.dir, &dirs, &mut facts);
    facts
}

fn scan_dirs(root: &Path, dir: &str, sources: &[std::path::PathBuf], facts: &mut SourceFacts) {
    let base = root.join(dir);
    let mut files: Vec<_> = sources
        .iter()
        .flat_map(|s| WalkDir::new(s).into_iter().flatten())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files.dedup();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        scan_text(&rel, &text, facts);
    }
    for d in RUNTIME_DIR_CANDIDATES {
        let referenced = facts.runtime_dirs.iter().any(|r| r == d);
        if referenced && !base.join(d).is_dir() && !root.join(d).is_dir() {
            facts.runtime_dirs.retain(|r| r != d);
        }
    }
}

/// Scans one file's text; `file` is its path for evidence.
pub fn scan_text(file: &str, text: &str, facts: &mut SourceFacts) {
    let mut signals = SignalFacts::default();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let at = format!("{file}:{}", idx + 1);
        for c in ADDR_LITERAL.captures_iter(line) {
            push_port(
                facts,
                &c[2],
                Some(c[1].trim_matches(['[', ']']).to_string()),
                &at,
                PortKind::Literal,
            );
        }
        for c in ADDR_ARRAY.captures_iter(line) {
            let host = if &c[1] == "127" {
                "127.0.0.1"
            } else {
                "0.0.0.0"
            };
            push_port(facts, &c[3], Some(host.into()), &at, PortKind::Literal);
        }
        for c in ADDR_TUPLE.captures_iter(line) {
            push_port(facts, &c[2], Some(c[1].to_string()), &at, PortKind::Literal);
        }
        if SERVER.is_match(line) {
            facts.server = true;
        }
        signals.sigterm |= SIGTERM.is_match(line);
        signals.sigint |= SIGINT.is_match(line);
        let compile_time = COMPILE_TIME.is_match(line);
        if line.contains("migrate!()") {
            push_unique(&mut facts.compile_time_dirs, "migrations");
        }
        for c in STRING_LIT.captures_iter(line) {
            let lit = &c[1];
            if HEALTH_PATHS.contains(&lit) {
                push_unique(&mut facts.health_paths, lit);
            }
            let first = lit.trim_start_matches("./").split('/').next().unwrap_or("");
            if let Some(d) = RUNTIME_DIR_CANDIDATES.iter().find(|d| **d == first) {
                if compile_time {
                    push_unique(&mut facts.compile_time_dirs, d);
                } else {
                    push_unique(&mut facts.runtime_dirs, d);
                }
            }
        }
    }
    if text.contains("disable_signals()") {
        signals.sigterm = false;
    }
    facts.signals.sigterm |= signals.sigterm;
    facts.signals.sigint |= signals.sigint;
    for m in PORT_ENV.find_iter(text) {
        facts.reads_port_env = true;
        let line_no = text[..m.start()].lines().count().max(1);
        if let Some(c) = PORT_DEFAULT.captures(&text[m.end()..]) {
            let port = c
                .get(1)
                .or(c.get(2))
                .map(|m| m.as_str())
                .unwrap_or_default();
            push_port(
                facts,
                port,
                None,
                &format!("{file}:{line_no}"),
                PortKind::EnvDefault,
            );
        }
    }
}

fn push_port(facts: &mut SourceFacts, port: &str, host: Option<String>, at: &str, kind: PortKind) {
    if let Ok(port) = port.parse::<u16>() {
        if port > 0 {
            facts.ports.push(PortEvidence {
                port,
                host,
                at: at.to_string(),
                kind,
            });
        }
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// Looks for a `port` key in the project's configuration files (configuration/, config/,
/// Rocket.toml, .env), for services that read their port from a file.
pub fn scan_config_port(root: &Path) -> Option<PortEvidence> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["configuration", "config"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "toml" || x == "json")
            })
            .collect();
        files.sort_by_key(|p| (!p.to_string_lossy().contains("base"), p.clone()));
        candidates.extend(files);
    }
    candidates.push(root.join("Rocket.toml"));
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(c) = CONFIG_PORT.captures(&text) {
            let line = text[..c.get(0).unwrap().start()].lines().count() + 1;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if let Ok(port) = c[1].parse() {
                return Some(PortEvidence {
                    port,
                    host: None,
                    at: format!("{rel}:{line}"),
                    kind: PortKind::ConfigFile,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> SourceFacts {
        let mut f = SourceFacts::default();
        scan_text("src/main.rs", text, &mut f);
        f
    }

    #[test]
    fn port_from_env_default() {
        let f = scan("let port = std::env::var(\"PORT\").unwrap_or_else(|_| \"3000\".to_string());\nlet addr = format!(\"0.0.0.0:{port}\");");
        assert!(f.reads_port_env);
        assert_eq!(f.ports[0].port, 3000);
        assert_eq!(f.ports[0].kind, PortKind::EnvDefault);
        assert_eq!(f.ports[0].at, "src/main.rs:1");
    }

    #[test]
    fn port_from_env_parsed_default() {
        let f = scan("let port: u16 = env::var(\"PORT\")\n    .ok()\n    .and_then(|p| p.parse().ok())\n    .unwrap_or(8000);");
        assert_eq!(f.ports[0].port, 8000);
    }

    #[test]
    fn literal_addresses() {
        let f = scan("let l = TcpListener::bind(\"127.0.0.1:7000\").await?;\nlet a = SocketAddr::from(([0, 0, 0, 0], 9000));\nTcpListener::bind((\"0.0.0.0\", 4000))");
        let ports: Vec<_> = f
            .ports
            .iter()
            .map(|p| (p.port, p.host.clone().unwrap()))
            .collect();
        assert_eq!(
            ports,
            vec![
                (7000, "127.0.0.1".into()),
                (9000, "0.0.0.0".into()),
                (4000, "0.0.0.0".into())
            ]
        );
        assert!(f.server);
    }

    #[test]
    fn comments_are_ignored() {
        let f = scan("// bind(\"0.0.0.0:1234\")\nfn main() {}");
        assert!(f.ports.is_empty());
        assert!(!f.server);
    }

    #[test]
    fn signals() {
        assert!(scan("signal(SignalKind::terminate())").signals.sigterm);
        let c = scan("tokio::signal::ctrl_c().await");
        assert!(c.signals.sigint && !c.signals.sigterm);
        assert!(
            scan("let mut s = Signals::new([SIGTERM, SIGINT])?;")
                .signals
                .sigterm
        );
        assert!(scan("HttpServer::new(|| App::new())").signals.sigterm);
        assert!(
            !scan("HttpServer::new(|| App::new()).disable_signals()")
                .signals
                .sigterm
        );
        assert_eq!(scan("fn main() {}").signals, SignalFacts::default());
    }

    #[test]
    fn health_routes_and_dirs() {
        let f = scan(".route(\"/healthz\", get(ok))\nlet c = std::fs::read_to_string(\"configuration/base.yaml\");\nsqlx::migrate!(\"./migrations\")\nconst T: &str = include_str!(\"templates/a.html\");");
        assert_eq!(f.health_paths, vec!["/healthz"]);
        assert_eq!(f.runtime_dirs, vec!["configuration"]);
        assert_eq!(f.compile_time_dirs, vec!["migrations", "templates"]);
    }
}

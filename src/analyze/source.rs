//! The source scan: listen ports, signal handling, health routes, run-time files.
//!
//! It reads a package's `.rs` files with regular expressions, per target: each binary from its
//! entry file through the modules it declares (`mod x;`, `#[path]`), and the library likewise;
//! `plan` adds the library and path dependencies a binary uses. It is a heuristic by design: every finding is recorded with `file:line`
//! evidence so `imggen plan` can show why, and every finding can be overridden in imggen.toml.

use crate::model::{
    BinSources, Package, PackageSources, PortEvidence, PortKind, SignalFacts, SourceFacts,
    HEALTH_PATHS,
};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

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

/// `mod name;` after any attributes (an inline `mod name { .. }` is part of the same file).
static MOD_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(?:r#)?([A-Za-z_][A-Za-z0-9_]*)\s*;").unwrap()
});
static PATH_ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"#\[\s*path\s*=\s*"([^"]+)"\s*\]"#).unwrap());
static LEADING_ATTRS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:#!?\[[^\]]*\]\s*)*").unwrap());

/// Scans a package's sources per target: the library and each binary, each from its root file
/// through the modules it declares, so one binary's listener never describes another.
pub fn scan_package(root: &Path, pkg: &Package) -> PackageSources {
    let base = root.join(&pkg.dir);
    let (lib_path, lib_ident) = lib_target(&base, &pkg.name);
    let uses_lib = Regex::new(&format!(
        r"(?:^|[^A-Za-z0-9_:]){0}\s*::|extern\s+crate\s+{0}\b",
        regex::escape(&lib_ident)
    ))
    .ok();
    let mut files = FileCache::default();
    let mut sources = PackageSources::default();
    if pkg.has_lib {
        let reached = files.reach(root, &lib_path, None);
        sources.lib = files.facts(&reached);
        prune_runtime_dirs(root, &base, &mut sources.lib);
    }
    for bin in &pkg.bins {
        let reached = files.reach(root, &root.join(&bin.path), uses_lib.as_ref());
        let mut facts = files.facts(&reached);
        prune_runtime_dirs(root, &base, &mut facts);
        sources.bins.insert(
            bin.name.clone(),
            BinSources {
                files: reached.iter().map(|p| files.scans[p].rel.clone()).collect(),
                uses_lib: pkg.has_lib && reached.iter().any(|p| files.scans[p].names_lib),
                facts,
            },
        );
    }
    sources
}

/// The library's root file and crate name: `[lib] path` / `[lib] name`, else `src/lib.rs` and
/// the package name with `-` as `_`.
fn lib_target(base: &Path, package: &str) -> (PathBuf, String) {
    let lib = std::fs::read_to_string(base.join("Cargo.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| t.get("lib").and_then(|l| l.as_table()).cloned());
    let field = |key: &str| {
        lib.as_ref()
            .and_then(|l| l.get(key))
            .and_then(|v| v.as_str())
            .map(String::from)
    };
    (
        base.join(field("path").unwrap_or_else(|| "src/lib.rs".into())),
        field("name")
            .unwrap_or_else(|| package.to_string())
            .replace('-', "_"),
    )
}

/// One scanned file: its facts, the module files it declares and whether it names the library.
struct FileScan {
    rel: String,
    facts: SourceFacts,
    /// `mod` declarations: (module name, `#[path]` value).
    mods: Vec<(String, Option<String>)>,
    names_lib: bool,
}

/// Every file is read and scanned once, however many targets reach it.
#[derive(Default)]
struct FileCache {
    scans: BTreeMap<PathBuf, FileScan>,
}

impl FileCache {
    /// Files compiled from the crate root `entry`: the entry first, then the modules it reaches.
    fn reach(&mut self, root: &Path, entry: &Path, lib: Option<&Regex>) -> Vec<PathBuf> {
        let mut order = Vec::new();
        let mut queue = vec![(entry.to_path_buf(), true)];
        while let Some((path, mod_rs)) = queue.pop() {
            if order.contains(&path) || !self.load(root, &path, lib) {
                continue;
            }
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let own = if mod_rs {
                dir.clone()
            } else {
                dir.join(path.file_stem().unwrap_or_default())
            };
            let mut children = Vec::new();
            for (name, at) in &self.scans[&path].mods {
                let child = match at {
                    Some(p) => Some(normalize(&dir.join(p))),
                    None => [
                        own.join(format!("{name}.rs")),
                        own.join(name).join("mod.rs"),
                    ]
                    .into_iter()
                    .find(|c| c.is_file()),
                };
                if let Some(child) = child {
                    let is_mod_rs = child.file_name().is_some_and(|n| n == "mod.rs");
                    children.push((child, is_mod_rs));
                }
            }
            order.push(path);
            queue.extend(children.into_iter().rev());
        }
        order
    }

    /// Reads and scans `path` unless already done; false when it cannot be read.
    fn load(&mut self, root: &Path, path: &Path, lib: Option<&Regex>) -> bool {
        if self.scans.contains_key(path) {
            return true;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        let rel = crate::paths::relative_or_whole(root, path);
        let mut facts = SourceFacts::default();
        scan_text(&rel, &text, &mut facts);
        let code = || text.lines().filter(|l| !l.trim_start().starts_with("//"));
        let names_lib = lib.is_some_and(|re| code().any(|l| re.is_match(l)));
        let mut mods = Vec::new();
        let mut pending_path: Option<String> = None;
        for line in code() {
            let line = line.trim();
            if let Some(c) = PATH_ATTR.captures(line) {
                pending_path = Some(c[1].to_string());
            }
            let rest = &line[LEADING_ATTRS.find(line).map_or(0, |m| m.end())..];
            if let Some(c) = MOD_DECL.captures(rest) {
                mods.push((c[1].to_string(), pending_path.take()));
            } else if !rest.is_empty() {
                pending_path = None;
            }
        }
        self.scans.insert(
            path.to_path_buf(),
            FileScan {
                rel,
                facts,
                mods,
                names_lib,
            },
        );
        true
    }

    /// The facts of `files` merged in order.
    fn facts(&self, files: &[PathBuf]) -> SourceFacts {
        let mut facts = SourceFacts::default();
        for f in files {
            facts.merge(&self.scans[f].facts);
        }
        facts
    }
}

/// `path` with `.` and `dir/..` removed, so a `#[path]` module has the same name however reached.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir
                if matches!(
                    out.components().next_back(),
                    Some(std::path::Component::Normal(_))
                ) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Drops run-time directories the sources name but the project does not have.
fn prune_runtime_dirs(root: &Path, base: &Path, facts: &mut SourceFacts) {
    facts
        .runtime_dirs
        .retain(|d| base.join(d).is_dir() || root.join(d).is_dir());
}

/// Byte offsets at which lines start, so an offset maps to its line number by binary search
/// (every scan that reports a line goes through it, keeping the analysis linear in file size).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        LineIndex {
            starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        }
    }

    /// The 1-based line number of the byte at `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
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
    let lines = LineIndex::new(text);
    for m in PORT_ENV.find_iter(text) {
        facts.reads_port_env = true;
        let line_no = lines.line(m.start());
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
            let line = LineIndex::new(&text).line(c.get(0).map_or(0, |m| m.start()));
            let rel = crate::paths::relative_or_whole(root, &path);
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

/// Linker tools `.cargo/config.toml` (or `.cargo/config`) names as `linker` or in `rustflags`
/// (`linker=clang`, `-fuse-ld=lld`, `-fuse-ld=mold`): the builder image has none of them.
/// What `.cargo/config.toml` (or `.cargo/config`) asks of the build beyond linkers. An
/// unreadable or invalid file says nothing (cargo itself reports it in the build).
pub fn scan_cargo_config(root: &Path) -> crate::model::CargoConfigFacts {
    use crate::model::CargoConfigFacts;
    let Some((name, text)) = ["config.toml", "config"].iter().find_map(|n| {
        std::fs::read_to_string(root.join(".cargo").join(n))
            .ok()
            .map(|t| (*n, t))
    }) else {
        return CargoConfigFacts::default();
    };
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    let str_at = |a: &str, b: &str| {
        table
            .get(a)
            .and_then(|t| t.get(b))
            .and_then(|v| {
                v.as_str()
                    .or_else(|| v.get("value").and_then(|v| v.as_str()))
            })
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let vendor_dir = table
        .get("source")
        .and_then(|s| s.as_table())
        .into_iter()
        .flat_map(|t| t.values())
        .find_map(|s| s.get("directory").and_then(|d| d.as_str()))
        .map(|d| d.trim_start_matches("./").trim_end_matches('/').to_string());
    CargoConfigFacts {
        file: Some(format!(".cargo/{name}")),
        rustc_wrapper: str_at("build", "rustc-wrapper").or_else(|| str_at("env", "RUSTC_WRAPPER")),
        registries: table
            .get("registries")
            .and_then(|r| r.as_table())
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default(),
        vendor_dir,
        git_fetch_with_cli: table
            .get("net")
            .and_then(|n| n.get("git-fetch-with-cli"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    }
}

pub fn scan_cargo_linkers(root: &Path) -> Vec<String> {
    let text = ["config.toml", "config"]
        .iter()
        .find_map(|n| std::fs::read_to_string(root.join(".cargo").join(n)).ok())
        .unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    let mut values: Vec<String> = Vec::new();
    let tables = table
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
        .chain(table.get("build"));
    for t in tables {
        if let Some(l) = t.get("linker").and_then(|l| l.as_str()) {
            values.push(format!("linker={l}"));
        }
        match t.get("rustflags") {
            Some(toml::Value::String(f)) => values.extend(f.split_whitespace().map(String::from)),
            Some(toml::Value::Array(a)) => {
                values.extend(a.iter().filter_map(|v| v.as_str()).map(String::from))
            }
            _ => {}
        }
    }
    let names = |v: &str, tool: &str| {
        let tail = v.rsplit(['=', '/']).next().unwrap_or_default();
        tail == tool || (tool == "lld" && tail == "ld.lld")
    };
    ["clang", "lld", "mold"]
        .iter()
        .filter(|tool| {
            values
                .iter()
                .any(|v| (v.starts_with("linker=") || v.contains("-fuse-ld=")) && names(v, tool))
        })
        .map(|t| t.to_string())
        .collect()
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

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn bin(name: &str, path: &str) -> crate::model::BinTarget {
        crate::model::BinTarget {
            name: name.into(),
            path: path.into(),
            required_features: vec![],
        }
    }

    #[test]
    fn each_binary_is_described_by_the_modules_it_declares() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("Cargo.toml", "[package]\nname = \"my-app\"\n"),
                (
                    "src/main.rs",
                    "mod http;\n#[path = \"../shared/probe.rs\"]\nmod probe;\nfn main() { http::serve() }\n",
                ),
                ("src/http/mod.rs", "pub mod routes;\npub fn serve() { let l = TcpListener::bind(\"0.0.0.0:9000\"); }\n"),
                ("src/http/routes.rs", "const H: &str = \"/healthz\";\n"),
                ("shared/probe.rs", "fn p() { tokio::signal::ctrl_c(); }\n"),
                ("src/bin/once.rs", "mod job;\nfn main() { my_app::run() }\n"),
                ("src/bin/job.rs", "fn j() {}\n"),
                ("src/bin/once/job.rs", "const P: &str = \"0.0.0.0:7000\";\n"),
                ("src/lib.rs", "mod db;\npub fn run() {}\n"),
                ("src/db.rs", "fn d() { signal(SignalKind::terminate()); }\n"),
                ("src/unused.rs", "const U: &str = \"127.0.0.1:1234\";\n"),
            ],
        );
        let pkg = Package {
            name: "my-app".into(),
            has_lib: true,
            bins: vec![bin("my-app", "src/main.rs"), bin("once", "src/bin/once.rs")],
            ..Package::default()
        };
        let s = scan_package(dir.path(), &pkg);
        let server = &s.bins["my-app"];
        assert_eq!(
            server.files,
            vec![
                "src/main.rs",
                "src/http/mod.rs",
                "src/http/routes.rs",
                "shared/probe.rs"
            ]
        );
        assert!(server.facts.server && !server.uses_lib);
        assert_eq!(server.facts.ports[0].port, 9000);
        assert_eq!(server.facts.health_paths, vec!["/healthz"]);
        assert!(server.facts.signals.sigint && !server.facts.signals.sigterm);
        let once = &s.bins["once"];
        assert_eq!(once.files, vec!["src/bin/once.rs", "src/bin/job.rs"]);
        assert!(once.uses_lib && !once.facts.server && once.facts.ports.is_empty());
        assert!(once.facts.health_paths.is_empty());
        assert!(s.lib.signals.sigterm && s.lib.ports.is_empty());
    }

    #[test]
    fn line_index_maps_offsets_to_lines() {
        let idx = LineIndex::new("ab\n\ncd\n");
        let lines: Vec<usize> = (0..7).map(|o| idx.line(o)).collect();
        assert_eq!(lines, vec![1, 1, 1, 2, 3, 3, 3]);
        assert_eq!(LineIndex::new("").line(0), 1);
    }

    /// 1.7 MB with 50,000 PORT lookups: recounting lines from the start for each would read
    /// about 44 GB; the line index reads the text once.
    #[test]
    fn port_lookups_in_a_large_file_get_their_own_lines() {
        let n = 50_000;
        let text = "env::var(\"PORT\").unwrap_or(8000);\n".repeat(n);
        let f = scan(&text);
        assert_eq!(f.ports.len(), n);
        assert_eq!(f.ports[1].at, "src/main.rs:2");
        assert_eq!(f.ports[n - 1].at, format!("src/main.rs:{n}"));
    }

    #[test]
    fn linkers_from_cargo_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan_cargo_linkers(dir.path()).is_empty());
        write(
            dir.path(),
            &[(
                ".cargo/config.toml",
                "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"linker=clang\", \"-C\", \"link-arg=-fuse-ld=lld\"]\n",
            )],
        );
        assert_eq!(scan_cargo_linkers(dir.path()), ["clang", "lld"]);
        write(
            dir.path(),
            &[(
                ".cargo/config.toml",
                "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n[build]\nrustflags = \"-C link-arg=-fuse-ld=/usr/bin/mold\"\n",
            )],
        );
        assert_eq!(scan_cargo_linkers(dir.path()), ["clang", "mold"]);
        write(dir.path(), &[(".cargo/config.toml", "[build]\njobs = 2\n")]);
        assert!(scan_cargo_linkers(dir.path()).is_empty());
    }
}

//! The source scan: listen ports, env vars, signal handling, health routes, frameworks,
//! run-time files.
//!
//! It parses a package's `.rs` files with `syn` (`rust.rs`), per target: each binary from its
//! entry file through the modules it declares (`mod x;`, `#[path]`), and the library likewise;
//! `plan` adds the library and path dependencies a binary uses. Test code is never read. Every
//! finding is recorded with `file:line` evidence so `imggen plan` can show why, and every finding
//! can be overridden in imggen.toml.

use super::rust::{self, FileFindings, Val};
use crate::model::{
    BinSources, EnvRead, FrameworkUse, ListenFlag, Package, PackageSources, PortEvidence, PortKind,
    RequiredCommand, SourceFacts,
};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// The cheap test before parsing, on the code without its comments ([`code_only`]): a file with
/// none of these says nothing the scan reads, so it is not parsed (its `mod` declarations and
/// frameworks are read from the text). `serve` counts as a word start only (not `reserve`).
static PREFILTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"env::var|var_os|dotenv|var\(|env\s*=|env\(|#\[(arg|clap|structopt)\b|builder\(default|#\[default\b|default\s*=\s*"[a-z_:]*port|bind|TcpListener|UdpSocket|(?-u:\b)serve|HttpServer|launch|set_default|with_prefix|prefixed|signal|ctrl_c|ctrlc|SIGTERM|SIGINT|shuttle_runtime|0\.0\.0\.0|127\.0\.0\.1|localhost|\[::|"/(api/)?(health|healthz|health_check|healthcheck|_health|livez|readyz|ping|_ping|alive|up)(/live|/liveness)?"|"/__|#\[(get|head|route|oai)\b|include_str|include_bytes|include_dir|migrate!|embed_migrations|RustEmbed|#\[folder|"(\./)?(config|configuration|static|assets|templates|public|resources|migrations)\b|_PORT|_ADDR|HTTP/1\.|derive\([^)]*Configuration|Environment::"#).unwrap()
});
/// A path through a known framework crate (`tonic::Status`, `#[rocket::main]`), or an
/// `extern crate`: what the parser records of a file whose other prefilter words are all in
/// comments.
static FRAMEWORK_PATH: LazyLock<Regex> = LazyLock::new(|| {
    let names: Vec<String> = crate::frameworks::all()
        .iter()
        .flat_map(|f| f.crates.iter().map(|c| regex::escape(c)))
        .collect();
    Regex::new(&format!(
        r"(?-u:\b)(?:{})\s*::|extern\s+crate",
        names.join("|")
    ))
    .expect("framework path pattern")
});
/// A framework crate named in the text of a file that is not parsed.
static FRAMEWORK_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?:pub\s+)?use\s+(axum|actix_web|rocket|poem|poem_openapi|poem_grpc|warp|salvo|loco_rs|leptos|leptos_axum|leptos_actix|tonic|hyper|hyper_util|tiny_http|tide)\b").unwrap()
});
/// `mod name;` after any attributes (an inline `mod name { .. }` is part of the same file).
static MOD_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(?:r#)?([A-Za-z_][A-Za-z0-9_]*)\s*;").unwrap()
});
/// `include!("opt.rs");` at the start of a line: that file is compiled here.
static INCLUDE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^include!\s*\(\s*"([^"]+)"\s*\)"#).unwrap());
static PATH_ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"#\[\s*path\s*=\s*"([^"]+)"\s*\]"#).unwrap());
static LEADING_ATTRS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:#!?\[[^\]]*\]\s*)*").unwrap());

/// What a file that is not parsed says: its `mod` declarations (not those under
/// `#[cfg(test)]`, nor `mod tests`) and the frameworks its `use` lines name.
fn text_findings(text: &str) -> FileFindings {
    let mut found = FileFindings::default();
    let mut pending_path: Option<String> = None;
    let mut pending_test = false;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        if let Some(c) = line
            .contains("path")
            .then(|| PATH_ATTR.captures(line))
            .flatten()
        {
            pending_path = Some(c[1].to_string());
        }
        if line.starts_with("#[cfg(") && line.contains("test") && !line.contains("not(") {
            pending_test = true;
        }
        let attrs = if line.starts_with('#') {
            LEADING_ATTRS.find(line).map_or(0, |m| m.end())
        } else {
            0
        };
        let rest = &line[attrs..];
        if let Some(c) = rest
            .contains("mod")
            .then(|| MOD_DECL.captures(rest))
            .flatten()
        {
            if !pending_test && &c[1] != "tests" {
                found.mods.push((c[1].to_string(), pending_path.take()));
            }
            pending_path = None;
            pending_test = false;
        } else if let Some(c) = (!pending_test).then(|| INCLUDE.captures(rest)).flatten() {
            found
                .mods
                .push((format!("include!({})", &c[1]), Some(c[1].to_string())));
        } else if !rest.is_empty() {
            pending_path = None;
            pending_test = false;
        }
    }
    let lines = LineIndex::new(text);
    for c in FRAMEWORK_TEXT.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if !found.crates.iter().any(|(k, _)| k == m.as_str()) {
            found
                .crates
                .push((m.as_str().to_string(), lines.line(m.start())));
        }
    }
    found
}

/// True when the file is worth parsing: the prefilter matches its code (comments aside), or it
/// matches the text and the code names a framework crate's path.
fn parse_worthy(text: &str) -> bool {
    let code = code_only(text);
    PREFILTER.is_match(text) && (PREFILTER.is_match(&code) || FRAMEWORK_PATH.is_match(&code))
}

/// `text` with its comments (line, block, doc) blanked, strings and char literals kept, for the
/// prefilter: a word in a comment is no reason to parse a file.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let ident = |i: usize| b[i].is_ascii_alphanumeric() || b[i] == b'_';
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                out.push_str(&text[start..i]);
                i = text[i..].find('\n').map_or(b.len(), |n| i + n);
                start = i;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                out.push_str(&text[start..i]);
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
                start = i;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'r' if (i == 0 || !ident(i - 1) || (b[i - 1] == b'b' && (i < 2 || !ident(i - 2))))
                && matches!(b.get(i + 1), Some(b'"' | b'#')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i = open;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                i = text[open + 1..]
                    .find(&close)
                    .map_or(b.len(), |n| open + 1 + n + close.len());
            }
            b'\'' => {
                // A char literal ('x', '\n', '"'); otherwise a lifetime or label.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 3;
                    while i < b.len() && b[i] != b'\'' && b[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    let next = text[i + 1..].chars().next().map_or(0, char::len_utf8);
                    i += 1;
                    if next > 0 && b.get(i + next) == Some(&b'\'') {
                        i += next + 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[start.min(b.len())..]);
    out
}

static CONFIG_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)^\s*(?:port|PORT|APP_PORT|APPLICATION_PORT|http_port)\s*[:=]\s*(?:\{\{[^}]*default\s*=\s*)?["']?(\d{2,5})["']?\s*(?:\)?\s*\}\})?\s*$"#,
    )
    .unwrap()
});

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
    let lib_files = if pkg.has_lib {
        files.reach(root, &lib_path, None)
    } else {
        Vec::new()
    };
    let bin_files: Vec<Vec<PathBuf>> = pkg
        .bins
        .iter()
        .map(|bin| files.reach(root, &root.join(&bin.path), uses_lib.as_ref()))
        .collect();
    let consts = files.consts();
    let leptos = super::framework::leptos_metadata(root, &base);
    if pkg.has_lib {
        sources.lib = files.facts(&lib_files, &consts);
        prune_runtime_dirs(root, &base, &mut sources.lib);
        sources.lib.frameworks.extend(leptos.clone());
    }
    for (bin, reached) in pkg.bins.iter().zip(bin_files) {
        let mut facts = files.facts(&reached, &consts);
        prune_runtime_dirs(root, &base, &mut facts);
        facts.frameworks.extend(leptos.clone());
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

/// One scanned file: what it says and whether it names the library.
struct FileScan {
    rel: String,
    found: FileFindings,
    names_lib: bool,
}

/// Every file is read and scanned once, however many targets reach it.
#[derive(Default)]
struct FileCache {
    scans: BTreeMap<PathBuf, FileScan>,
}

/// True for a file of another kind of target (integration tests, benches, examples), which a
/// binary or library never compiles through `mod`.
fn other_target(rel: &str) -> bool {
    rel.split('/')
        .any(|c| c == "tests" || c == "benches" || c == "examples")
}

impl FileCache {
    /// Files compiled from the crate root `entry`: the entry first, then the modules it reaches.
    fn reach(&mut self, root: &Path, entry: &Path, lib: Option<&Regex>) -> Vec<PathBuf> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut queue = vec![(entry.to_path_buf(), true)];
        let entry_rel = crate::paths::relative_or_whole(root, entry);
        while let Some((path, mod_rs)) = queue.pop() {
            if seen.contains(&path) || !self.load(root, &path, lib) {
                continue;
            }
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let own = if mod_rs {
                dir.clone()
            } else {
                dir.join(path.file_stem().unwrap_or_default())
            };
            let mut children = Vec::new();
            for (name, at) in &self.scans[&path].found.mods {
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
                    let rel = crate::paths::relative_or_whole(root, &child);
                    let tail = rel.strip_prefix(entry_rel.rsplit_once('/').map_or("", |(d, _)| d));
                    if other_target(tail.unwrap_or(&rel)) && !other_target(&entry_rel) {
                        continue;
                    }
                    let is_mod_rs = child.file_name().is_some_and(|n| n == "mod.rs");
                    children.push((child, is_mod_rs));
                }
            }
            seen.insert(path.clone());
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
        let found = if parse_worthy(&text) {
            rust::read(&text).unwrap_or_else(|| text_findings(&text))
        } else {
            text_findings(&text)
        };
        let names_lib = lib.is_some_and(|re| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| re.is_match(l))
        });
        self.scans.insert(
            path.to_path_buf(),
            FileScan {
                rel,
                found,
                names_lib,
            },
        );
        true
    }

    /// Every const and literal-returning fn of the files read so far, by name.
    fn consts(&self) -> BTreeMap<String, Val> {
        let mut out = BTreeMap::new();
        for s in self.scans.values() {
            for (k, v) in &s.found.consts {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        out
    }

    /// The facts of `files` merged in order, consts resolved with `consts`.
    fn facts(&self, files: &[PathBuf], consts: &BTreeMap<String, Val>) -> SourceFacts {
        let mut facts = SourceFacts::default();
        for f in files {
            let scan = &self.scans[f];
            facts.merge(&file_facts(&scan.rel, &scan.found, consts));
        }
        facts
    }
}

/// `v` with consts followed (a few steps, so `A = B` chains resolve and cycles end).
fn resolve(v: &Val, consts: &BTreeMap<String, Val>) -> Option<Val> {
    let mut v = v.clone();
    for _ in 0..4 {
        match v {
            Val::Const(k) => v = consts.get(&k)?.clone(),
            other => return Some(other),
        }
    }
    None
}

fn as_port(v: &Val) -> Option<u16> {
    match v {
        Val::Int(i) => u16::try_from(*i).ok().filter(|p| *p > 0),
        Val::Str(s) => s.trim().parse().ok().filter(|p| *p > 0),
        Val::Const(_) => None,
    }
}

fn as_text(v: &Val) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s.clone(),
        Val::Const(k) => k.clone(),
    }
}

/// One file's findings as facts: consts resolved, env defaults turned into port evidence,
/// framework conventions applied.
fn file_facts(rel: &str, found: &FileFindings, consts: &BTreeMap<String, Val>) -> SourceFacts {
    let at = |line: usize| format!("{rel}:{line}");
    let mut facts = SourceFacts {
        server: found.server,
        signals: found.signals,
        health_paths: found.health_paths.clone(),
        runtime_dirs: found.runtime_dirs.clone(),
        compile_time_dirs: found.compile_time_dirs.clone(),
        listeners: found.listeners.clone(),
        ..SourceFacts::default()
    };
    for p in &found.ports {
        let port = match &p.port {
            Some(v) => match resolve(v, consts).as_ref().and_then(as_port) {
                Some(port) => port,
                None => continue,
            },
            None if found.server => 0,
            None => continue,
        };
        facts.ports.push(PortEvidence {
            port,
            host: p.host.clone(),
            at: at(p.line),
            kind: p.kind,
        });
    }
    let mut found_env = found.env.clone();
    if let Some(prefix) = &found.env_prefix {
        let prefix = prefix.trim_end_matches('_').to_uppercase();
        for (key, value, line) in &found.config_defaults {
            found_env.push(rust::RawEnv {
                name: Val::Str(format!("{prefix}_{}", key.to_uppercase())),
                default: Some(value.clone()),
                required: false,
                line: *line,
                port_field: false,
            });
        }
    }
    facts.config_env = found
        .config_env
        .as_ref()
        .map(|e| crate::model::ConfigEnvSource {
            prefix: e.prefix.clone(),
            separator: e.separator.clone(),
            prefix_separator: e.prefix_separator.clone(),
            at: at(e.line),
        });
    env_facts(&mut facts, &found_env, consts, &at);
    framework_facts(&mut facts, found, &at);
    facts.listen_flags = found
        .listen_flags
        .iter()
        .map(|f| ListenFlag {
            flag: f.flag.clone(),
            default: f.default.clone(),
            ty: f.ty.clone(),
            at: at(f.line),
        })
        .collect();
    facts
}

/// The env reads of a file: names and defaults resolved, a port or address default as port
/// evidence, secrets marked.
fn env_facts(
    facts: &mut SourceFacts,
    found: &[rust::RawEnv],
    consts: &BTreeMap<String, Val>,
    at: &dyn Fn(usize) -> String,
) {
    for e in found {
        let Some(Val::Str(name)) = resolve(&e.name, consts) else {
            continue;
        };
        let default = e.default.as_ref().and_then(|d| resolve(d, consts));
        let own = !name.split('_').any(crate::model::is_other_service_word);
        let evidence = if (crate::model::is_port_env(&name) && own) || e.port_field {
            default.as_ref().and_then(as_port).map(|p| (p, None))
        } else if crate::model::is_addr_env(&name) && own {
            match &default {
                Some(Val::Str(d)) => {
                    crate::model::split_host(d).map(|(h, p)| (p.unwrap_or(0), Some(h)))
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some((port, host)) = evidence {
            facts.ports.push(PortEvidence {
                port,
                host,
                at: at(e.line),
                kind: PortKind::EnvDefault,
            });
        }
        if name == "PORT" {
            facts.reads_port_env = true;
        }
        if !facts.env.iter().any(|x| x.name == name) {
            facts.env.push(EnvRead {
                secret: crate::validate::is_secret_env(&name),
                name,
                default: default.as_ref().map(as_text),
                required: e.required,
                at: at(e.line),
            });
        }
    }
}

/// The frameworks a file uses, with what they do by themselves (`data/frameworks.toml`): signal
/// handling, a required command, their default address. Shuttle counts only with its entry
/// attribute.
fn framework_facts(facts: &mut SourceFacts, found: &FileFindings, at: &dyn Fn(usize) -> String) {
    for (krate, line) in &found.crates {
        let Some(fw) = crate::frameworks::by_crate(krate) else {
            continue;
        };
        let line = match (fw.name.as_str(), found.foreign_main) {
            ("shuttle", None) => continue,
            ("shuttle", Some(l)) => l,
            _ => *line,
        };
        if !facts.frameworks.iter().any(|f| f.name == fw.name) {
            facts.frameworks.push(FrameworkUse {
                name: fw.name.clone(),
                at: at(line),
            });
        }
        let serves = found.server || !fw.command.is_empty();
        if serves {
            for d in &fw.runtime_dirs {
                if !facts.runtime_dirs.contains(d) {
                    facts.runtime_dirs.push(d.clone());
                }
            }
        }
        if fw.signals && serves && !found.signals_disabled {
            facts.signals.sigterm = true;
            facts.signals.sigint = true;
        }
        if !fw.command.is_empty() && facts.command.is_none() {
            facts.server = true;
            facts.command = Some(RequiredCommand {
                args: fw.command.clone(),
                why: format!(
                    "{} apps serve with `{}` ({})",
                    fw.name,
                    fw.command.join(" "),
                    at(line)
                ),
            });
        }
        if fw.port > 0 && serves {
            facts.ports.push(PortEvidence {
                port: fw.port,
                host: Some(fw.host.clone()).filter(|h| !h.is_empty()),
                at: at(line),
                kind: PortKind::Framework,
            });
        }
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

/// Byte offsets at which lines start, so an offset maps to its line number by binary search.
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

/// Looks for a `port` key in the project's configuration files (configuration/, config/,
/// Rocket.toml, .env), for services that read their port from a file.
pub fn scan_config_port(root: &Path) -> Option<PortEvidence> {
    if let Some(found) = super::framework::rocket_toml(root) {
        return Some(found);
    }
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
        files.sort_by_key(|p| (config_rank(p), p.clone()));
        candidates.extend(files);
    }
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

/// Keys whose value is a listen address (`host:port`).
const ADDRESS_KEYS: &[&str] = &[
    "address",
    "addr",
    "bind",
    "bind_addr",
    "bind_address",
    "listen",
    "listen_addr",
    "listen_address",
    "server_addr",
    "http_addr",
];

/// The first listen address (`host:port`, the host a wildcard or loopback one) under an
/// address-like key of the root configuration files (`config.toml`, `settings.toml`,
/// `config.json`, then `config/` and `configuration/`, production first), with its key path.
pub fn scan_config_listen(root: &Path) -> Option<crate::model::ConfigListen> {
    let mut candidates: Vec<PathBuf> = ["config", "settings", "Settings", "app"]
        .iter()
        .flat_map(|stem| ["toml", "json"].map(|x| root.join(format!("{stem}.{x}"))))
        .filter(|p| p.is_file())
        .collect();
    for dir in ["config", "configuration"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml" || x == "json"))
            .collect();
        files.sort_by_key(|p| (config_rank(p), p.clone()));
        candidates.extend(files);
    }
    candidates.into_iter().find_map(|path| {
        let text = std::fs::read_to_string(&path).ok()?;
        let value: serde_json::Value = if path.extension().is_some_and(|x| x == "json") {
            serde_json::from_str(&text).ok()?
        } else {
            serde_json::to_value(toml::from_str::<toml::Table>(&text).ok()?).ok()?
        };
        let (key, host, port) = find_address(&value, &mut Vec::new())?;
        let leaf = key.last()?;
        let line = text
            .lines()
            .position(|l| {
                let l = l.trim_start().trim_start_matches('"');
                l.starts_with(leaf.as_str()) && l.contains(&format!("{host}:{port}"))
            })
            .map_or(1, |i| i + 1);
        Some(crate::model::ConfigListen {
            key,
            host,
            port,
            at: format!("{}:{line}", crate::paths::relative_or_whole(root, &path)),
        })
    })
}

/// The first address-like key holding `host:port` in `value`, depth first, keys in name order.
fn find_address(
    value: &serde_json::Value,
    path: &mut Vec<String>,
) -> Option<(Vec<String>, String, u16)> {
    let serde_json::Value::Object(map) = value else {
        return None;
    };
    for (k, v) in map {
        path.push(k.clone());
        let found = match v {
            serde_json::Value::String(s) if ADDRESS_KEYS.contains(&k.to_lowercase().as_str()) => {
                match crate::model::split_host(s) {
                    Some((host, Some(port))) => Some((path.clone(), host, port)),
                    _ => None,
                }
            }
            serde_json::Value::Object(_) => find_address(v, path),
            _ => None,
        };
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The production configuration file of `configuration/` or `config/`, relative to the root.
pub fn production_config(root: &Path) -> Option<String> {
    ["configuration", "config"].iter().find_map(|dir| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| config_rank(p) == 0)
            .collect();
        files.sort();
        files
            .first()
            .map(|p| crate::paths::relative_or_whole(root, p))
    })
}

/// Which configuration file wins in an image: the production one, then the base or default
/// one (the production file overrides it, so its port stands when production names none),
/// then any other, development and test ones last.
fn config_rank(path: &Path) -> u8 {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match stem.as_str() {
        "production" | "prod" | "release" => 0,
        "base" | "default" | "config" | "settings" | "app" => 1,
        "development" | "dev" | "local" | "test" | "testing" => 3,
        _ => 2,
    }
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
        // A registry of its own has an `index`; `[registries.crates-io] protocol = "sparse"`
        // only tunes crates.io, which needs no token to download.
        registries: table
            .get("registries")
            .and_then(|r| r.as_table())
            .map(|r| {
                r.iter()
                    .filter(|(name, t)| *name != "crates-io" && t.get("index").is_some())
                    .map(|(name, _)| name.clone())
                    .collect()
            })
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
    use crate::model::SignalFacts;

    /// The facts of one file `src/main.rs`, its own consts resolved.
    fn scan(text: &str) -> SourceFacts {
        let found = rust::read(text)
            .or_else(|| rust::read(&format!("fn main() {{ {text}\n}}")))
            .expect("valid Rust");
        let consts = found.consts.iter().cloned().collect();
        file_facts("src/main.rs", &found, &consts)
    }

    #[test]
    fn port_from_env_default() {
        let f = scan("let port = std::env::var(\"PORT\").unwrap_or_else(|_| \"3000\".to_string());\nlet addr = format!(\"0.0.0.0:{port}\");\nlet l = TcpListener::bind(addr);");
        assert!(f.reads_port_env);
        let env = f
            .ports
            .iter()
            .find(|p| p.kind == PortKind::EnvDefault)
            .unwrap();
        assert_eq!((env.port, env.at.as_str()), (3000, "src/main.rs:1"));
        let host = f
            .ports
            .iter()
            .find(|p| p.kind == PortKind::Literal)
            .unwrap();
        assert_eq!((host.port, host.host.as_deref()), (0, Some("0.0.0.0")));
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
        assert!(
            scan(
                "use actix_web::{App, HttpServer};\nfn main() { HttpServer::new(|| App::new()); }"
            )
            .signals
            .sigterm
        );
        assert!(
            !scan("use actix_web::{App, HttpServer};\nfn main() { HttpServer::new(|| App::new()).disable_signals(); }")
                .signals
                .sigterm
        );
        assert_eq!(scan("fn main() {}").signals, SignalFacts::default());
    }

    #[test]
    fn health_routes_and_dirs() {
        let f = scan("let r = app.route(\"/healthz\", get(ok));\nlet c = std::fs::read_to_string(\"configuration/base.yaml\");\nsqlx::migrate!(\"./migrations\");\nconst T: &str = include_str!(\"templates/a.html\");");
        assert_eq!(f.health_paths, vec!["/healthz"]);
        assert_eq!(f.runtime_dirs, vec!["configuration"]);
        assert_eq!(f.compile_time_dirs, vec!["migrations", "templates"]);
    }

    fn ports(f: &SourceFacts) -> Vec<(u16, PortKind, &str)> {
        f.ports
            .iter()
            .map(|p| (p.port, p.kind, p.at.as_str()))
            .collect()
    }

    #[test]
    fn test_code_and_doc_comments_are_not_read() {
        let f = scan(
            "/// Listens on \"127.0.0.1:1111\".\nfn main() { serve(\"0.0.0.0:3000\"); }\n#[cfg(test)]\nmod t { fn a() { let _ = \"127.0.0.1:2222\"; std::env::var(\"TEST_DB\"); } }\n#[test]\nfn b() { let _ = \"127.0.0.1:3333\"; }\n#[cfg(any(test, feature = \"x\"))]\nfn c() { let _ = \"127.0.0.1:4444\"; }\nmod tests { fn d() { let _ = \"127.0.0.1:5555\"; } }\n",
        );
        assert_eq!(ports(&f), [(3000, PortKind::Literal, "src/main.rs:2")]);
        assert!(f.env.is_empty());
    }

    #[test]
    fn a_health_route_under_a_reserved_prefix_is_a_health_route() {
        let f = scan("fn routes() { let a = \"/__dufs__/health\"; let b = \"/__lbheartbeat__\"; let c = \"/__x__/status\"; }");
        assert_eq!(f.health_paths, ["/__dufs__/health", "/__lbheartbeat__"]);
    }

    #[test]
    fn a_liveness_route_under_health_is_a_health_route() {
        let f = scan("fn routes(app: Router) -> Router { app.route(\"/health/live\", get(live)).route(\"/health/ready\", get(ready)) }");
        assert_eq!(f.health_paths, ["/health/live"]);
    }

    #[test]
    fn a_loopback_url_is_a_service_called_not_the_listen_address() {
        let f = scan("fn main() { let pictrs = Url::parse(\"http://localhost:8080\");\nlet api = \"https://127.0.0.1:9443\";\nserve(\"http://0.0.0.0:3000\"); }");
        assert_eq!(ports(&f), [(3000, PortKind::Literal, "src/main.rs:3")]);
    }

    /// An address default written as an expression is that address, not "no default".
    #[test]
    fn ip_address_defaults_written_as_expressions() {
        let f = scan("#[derive(Parser)]\nstruct Args {\n  #[clap(long, env = \"A_BIND\", default_value_t = IpAddr::from([0, 0, 0, 0]))]\n  bind: IpAddr,\n  #[arg(long, env = \"B_HOST\", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]\n  host: IpAddr,\n  #[arg(long, env = \"C_HOST\", default_value_t = Ipv4Addr::new(127, 0, 0, 1))]\n  c: Ipv4Addr,\n  #[arg(long, env = \"D_HOST\", default_value_t = Ipv6Addr::UNSPECIFIED)]\n  d: Ipv6Addr,\n}\n");
        let defaults: Vec<(&str, Option<&str>)> = f
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.default.as_deref()))
            .collect();
        assert_eq!(
            defaults,
            [
                ("A_BIND", Some("0.0.0.0")),
                ("B_HOST", Some("127.0.0.1")),
                ("C_HOST", Some("127.0.0.1")),
                ("D_HOST", Some("::"))
            ]
        );
    }

    #[test]
    fn a_smart_default_on_the_port_field_is_the_default_port() {
        let f = scan("#[derive(SmartDefault)]\nstruct Settings {\n  #[default(8536)]\n  pub port: u16,\n  #[default = 9000]\n  pub api_port: u16,\n}\n#[derive(SmartDefault)]\nstruct PrometheusConfig {\n  #[default(10002)]\n  pub port: u16,\n}\n");
        assert_eq!(
            ports(&f),
            [
                (8536, PortKind::CodeDefault, "src/main.rs:4"),
                (9000, PortKind::CodeDefault, "src/main.rs:6")
            ]
        );
    }

    #[test]
    fn helper_with_default_and_string_from_default() {
        let f = scan("fn main() -> Result<()> { let p: u16 = var_parsed(\"PORT\")?.unwrap_or(4000);\nlet h = env::var(\"APP_HOST\").unwrap_or_else(|_| String::from(\"127.0.0.1\")); Ok(()) }");
        assert_eq!(ports(&f)[0], (4000, PortKind::EnvDefault, "src/main.rs:1"));
        assert_eq!(f.env[0].name, "PORT");
        assert_eq!(f.env[0].default.as_deref(), Some("4000"));
        assert!(!f.env[0].required);
        assert_eq!(f.env[1].default.as_deref(), Some("127.0.0.1"));
        assert_eq!(f.ports[1].host.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn const_default_port_is_followed() {
        let f = scan("const DEFAULT_PORT: u16 = 6379;\nfn main() { let port = cli.port.unwrap_or(DEFAULT_PORT);\nlet l = TcpListener::bind(&format!(\"127.0.0.1:{}\", port)); }");
        assert_eq!(
            ports(&f),
            [
                (6379, PortKind::CodeDefault, "src/main.rs:2"),
                (0, PortKind::Literal, "src/main.rs:3")
            ]
        );
        assert_eq!(f.listeners, ["tcp"]);
    }

    /// Only this server's own address flags count: not one an env var sets, not another
    /// service's host, not a client's target.
    #[test]
    fn clap_listen_flags_with_a_loopback_default() {
        let f = scan("#[derive(Parser)]\nstruct Opt {\n    #[clap(long, value_parser, default_value = \"::1\")]\n    listen: std::net::IpAddr,\n    #[arg(long = \"bind-to\", default_value = \"127.0.0.1:9000\")]\n    bind_addr: String,\n    #[arg(long, default_value = \"127.0.0.1\", env = \"APP_HOST\")]\n    host: String,\n    #[arg(long, default_value = \"localhost\")]\n    redis_host: String,\n    #[arg(long, default_value = \"localhost\")]\n    local_host: String,\n    #[arg(long, default_value = \"0.0.0.0\")]\n    address: String,\n}\n");
        let flags: Vec<(&str, &str, &str)> = f
            .listen_flags
            .iter()
            .map(|l| (l.flag.as_str(), l.default.as_str(), l.ty.as_str()))
            .collect();
        assert_eq!(
            flags,
            [
                ("--listen", "::1", "std::net::IpAddr"),
                ("--bind-to", "127.0.0.1:9000", "String")
            ]
        );
        assert_eq!(f.listen_flags[0].at, "src/main.rs:4");
    }

    #[test]
    fn clap_defaults_and_env() {
        let f = scan("#[derive(Parser)]\nstruct Opt {\n    /// The port.\n    #[arg(long, default_value = \"7700\", env = \"X_PORT\")]\n    port: u16,\n    #[clap(long, env, default_value_t = DEFAULT_HOST.to_string())]\n    host: String,\n    #[arg(long, env = \"API_TOKEN\")]\n    token: String,\n    #[arg(short, long, default_value_t = 9000)]\n    http_port: u16,\n    #[arg(long, default_value_t = 1024)]\n    min_port: u16,\n}\nconst DEFAULT_HOST: &str = \"localhost\";\n");
        let env: Vec<_> = f
            .env
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    e.default.as_deref(),
                    e.required,
                    e.secret,
                    e.at.as_str(),
                )
            })
            .collect();
        assert_eq!(
            env,
            [
                ("X_PORT", Some("7700"), false, false, "src/main.rs:5"),
                ("HOST", Some("localhost"), false, false, "src/main.rs:7"),
                ("API_TOKEN", None, true, true, "src/main.rs:9"),
            ]
        );
        assert_eq!(
            ports(&f),
            [
                (9000, PortKind::CodeDefault, "src/main.rs:11"),
                (7700, PortKind::EnvDefault, "src/main.rs:5"),
                (0, PortKind::EnvDefault, "src/main.rs:7"),
            ]
        );
    }

    #[test]
    fn config_crate_default_and_required_env() {
        let f = scan("fn main() { let s = Config::builder().set_default(\"server.port\", 8888)?;\nlet db = std::env::var(\"DATABASE_URL\").expect(\"DATABASE_URL\");\nlet k = dotenvy::var(\"JWT_SECRET\")?; }");
        assert_eq!(ports(&f), [(8888, PortKind::CodeDefault, "src/main.rs:1")]);
        assert!(f
            .env
            .iter()
            .all(|e| e.required && e.secret && e.default.is_none()));
        assert_eq!(f.env.len(), 2);
    }

    #[test]
    fn attribute_routes_and_frameworks() {
        let f = scan("#[macro_use] extern crate rocket;\n#[get(\"/alive\")]\nfn alive() {}\n#[launch]\nfn rocket() -> _ { rocket::build() }\n");
        assert_eq!(f.health_paths, ["/alive"]);
        assert_eq!(f.frameworks[0].name, "rocket");
        assert!(f.server && f.signals.sigterm);
        assert_eq!(ports(&f), [(8000, PortKind::Framework, "src/main.rs:1")]);
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

    /// `include!("opt.rs")` compiles that file into the binary: its command line and its
    /// listen address count, whether or not the including file is worth parsing.
    #[test]
    fn an_included_file_is_read_as_part_of_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("src/main.rs", "include!(\"./opt.rs\");\nfn main() {}\n"),
                ("src/opt.rs", "fn serve() { bind(\"0.0.0.0:7400\"); }\n"),
                ("src/bin/other.rs", "include!(\"../net.rs\");\nfn main() { let l = TcpListener::bind(\"0.0.0.0:7500\"); }\n"),
                ("src/net.rs", "const T: u8 = 1;\n"),
            ],
        );
        let pkg = Package {
            name: "inc".into(),
            bins: vec![bin("inc", "src/main.rs"), bin("other", "src/bin/other.rs")],
            ..Package::default()
        };
        let s = scan_package(dir.path(), &pkg);
        assert_eq!(s.bins["inc"].files, ["src/main.rs", "src/opt.rs"]);
        assert_eq!(s.bins["inc"].facts.ports[0].port, 7400);
        assert_eq!(s.bins["other"].files, ["src/bin/other.rs", "src/net.rs"]);
    }

    #[test]
    fn the_prefilter_reads_code_not_comments() {
        let parsed = parse_worthy;
        assert!(!parsed("// serve on 0.0.0.0:80\n/* bind(\"127.0.0.1:1\") /* nested */ env::var */\nfn f() {}\n"));
        assert!(!parsed(
            "/// Listens on localhost.\nfn f(v: &mut Vec<u8>) { v.reserve(1); preserve(); }\n"
        ));
        assert!(!parsed(
            "fn f<'a>(c: char) -> bool { c == '\"' || c == '\\'' } // \"0.0.0.0:1\""
        ));
        assert!(parsed("fn f() { let u = \"http://0.0.0.0:80\"; }"));
        assert!(parsed(
            "fn f() { let u = r#\"// \"#; axum::serve(l, app); }"
        ));
        assert!(parsed(
            "fn f() { let c = '/'; let d = '/'; tokio::signal::ctrl_c(); }"
        ));
        assert!(parsed("fn f() { let s = b'\"'; env::var(\"X\"); }"));
        assert!(parsed("// serve\nfn f() -> tonic::Status { todo!() }"));
        assert!(!parsed("fn f() -> tonic::Status { todo!() }"));
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
    fn only_a_registry_with_an_index_of_its_own_needs_a_token() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[(
                ".cargo/config.toml",
                "[registries.crates-io]\nprotocol = \"sparse\"\n[registries.corp]\nindex = \"sparse+https://crates.corp.example/index/\"\n[registries.named-only]\ntoken-from-elsewhere = true\n",
            )],
        );
        assert_eq!(scan_cargo_config(dir.path()).registries, ["corp"]);
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

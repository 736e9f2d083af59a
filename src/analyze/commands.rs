//! How the project says its binary is run: the `Procfile`'s `web` and `release` processes, and
//! the clap subcommands (`#[derive(Subcommand)]` enums) each binary compiles, read with `syn`.
//! Facts only: `plan` decides the image's arguments from them.

use crate::model::{Located, Package, Procfile, Subcommand};
use std::collections::BTreeMap;
use std::path::Path;
use syn::visit::Visit;

/// The root `Procfile`, when there is one with a `web` or `release` process.
pub fn read_procfile(root: &Path) -> Option<Procfile> {
    let text = std::fs::read_to_string(root.join("Procfile")).ok()?;
    let procfile = parse_procfile("Procfile", &text);
    (procfile.web.is_some() || procfile.release.is_some()).then_some(procfile)
}

/// `name: command` lines; blank lines and `#` comments are skipped, a later line of the same
/// name wins (as Heroku reads it).
pub fn parse_procfile(file: &str, text: &str) -> Procfile {
    let mut procfile = Procfile {
        file: file.to_string(),
        ..Procfile::default()
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            continue;
        };
        let command = command.trim();
        if command.is_empty() {
            continue;
        }
        let located = Some(Located {
            value: super::dockerfile::words(command),
            line: i + 1,
        });
        match name.trim() {
            "web" => procfile.web = located,
            "release" => procfile.release = located,
            _ => {}
        }
    }
    procfile
}

/// The clap subcommands of each binary of `pkg`: those declared in the files the binary
/// compiles, and in the package's library when the binary uses it.
pub fn scan_subcommands(root: &Path, pkg: &Package) -> BTreeMap<String, Vec<Subcommand>> {
    let mut cache: BTreeMap<String, Vec<Subcommand>> = BTreeMap::new();
    let mut scan = |rel: &str| -> Vec<Subcommand> {
        cache
            .entry(rel.to_string())
            .or_insert_with(|| scan_file(root, rel))
            .clone()
    };
    let lib_files = if pkg.has_lib && pkg.source.bins.values().any(|b| b.uses_lib) {
        library_files(root, &pkg.dir)
    } else {
        Vec::new()
    };
    let mut out = BTreeMap::new();
    for (name, bin) in &pkg.source.bins {
        let mut found: Vec<Subcommand> = Vec::new();
        let files = bin
            .files
            .iter()
            .chain(lib_files.iter().filter(|_| bin.uses_lib));
        for f in files {
            for s in scan(f) {
                if !found.contains(&s) {
                    found.push(s);
                }
            }
        }
        if !found.is_empty() {
            out.insert(name.clone(), found);
        }
    }
    out
}

/// Root-relative paths of the `.rs` files under the package's `src/` that are not binaries.
fn library_files(root: &Path, dir: &str) -> Vec<String> {
    let src = root.join(dir).join("src");
    let mut files: Vec<String> = walkdir::WalkDir::new(&src)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "rs"))
        .filter_map(|e| {
            let rel = e.path().strip_prefix(&src).ok()?;
            let first = rel.components().next()?.as_os_str().to_string_lossy();
            (first != "bin" && first != "main.rs")
                .then(|| crate::paths::relative(root, e.path()))?
        })
        .collect();
    files.sort();
    files
}

/// The subcommands one file declares; a file that does not mention `Subcommand` is not parsed.
fn scan_file(root: &Path, rel: &str) -> Vec<Subcommand> {
    let Ok(text) = std::fs::read_to_string(root.join(rel)) else {
        return Vec::new();
    };
    if !text.contains("Subcommand") {
        return Vec::new();
    }
    let Ok(file) = syn::parse_file(&text) else {
        return Vec::new();
    };
    let mut v = SubcommandVisitor {
        file: rel,
        found: Vec::new(),
    };
    v.visit_file(&file);
    v.found
}

struct SubcommandVisitor<'a> {
    file: &'a str,
    found: Vec<Subcommand>,
}

impl<'ast> Visit<'ast> for SubcommandVisitor<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !cfg_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        if cfg_test(&e.attrs) || !derives_subcommand(&e.attrs) {
            return;
        }
        let case = command_value(&e.attrs, "rename_all").unwrap_or_else(|| "kebab-case".into());
        for v in &e.variants {
            if command_flag(&v.attrs, "skip") || command_flag(&v.attrs, "external_subcommand") {
                continue;
            }
            let name = command_value(&v.attrs, "name")
                .unwrap_or_else(|| rename(&v.ident.to_string(), &case));
            self.found.push(Subcommand {
                name,
                at: format!("{}:{}", self.file, v.ident.span().start().line),
            });
        }
    }
}

/// `#[cfg(test)]` (also inside `any(...)`/`all(...)` as the only condition).
fn cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// `#[derive(..., Subcommand, ...)]` or `clap::Subcommand`.
fn derives_subcommand(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| {
                paths
                    .iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == "Subcommand"))
            })
        })
}

/// The string value of `key` in `#[command(...)]` or `#[clap(...)]`.
fn command_value(attrs: &[syn::Attribute], key: &str) -> Option<String> {
    let mut value = None;
    for a in attrs
        .iter()
        .filter(|a| a.path().is_ident("command") || a.path().is_ident("clap"))
    {
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                if let Ok(s) = meta.value().and_then(|v| v.parse::<syn::LitStr>()) {
                    value = Some(s.value());
                }
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
    }
    value
}

/// `#[command(key)]` or `#[clap(key)]` is present.
fn command_flag(attrs: &[syn::Attribute], key: &str) -> bool {
    let mut found = false;
    for a in attrs
        .iter()
        .filter(|a| a.path().is_ident("command") || a.path().is_ident("clap"))
    {
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                found = true;
            }
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
    }
    found
}

/// A variant name in one of clap's `rename_all` cases.
fn rename(ident: &str, case: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut words: Vec<String> = vec![String::new()];
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            words.push(String::new());
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.push(c);
        }
    }
    words.retain(|w| !w.is_empty());
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let capital = |w: &String| {
        let mut cs = w.chars();
        cs.next()
            .map(|f| f.to_uppercase().chain(cs).collect::<String>())
            .unwrap_or_default()
    };
    match case {
        "verbatim" => ident.to_string(),
        "snake_case" | "snake" => lower.join("_"),
        "SCREAMING_SNAKE_CASE" | "screaming_snake" => lower.join("_").to_uppercase(),
        "lower" | "lowercase" => lower.concat(),
        "UPPER" | "UPPERCASE" => lower.concat().to_uppercase(),
        "PascalCase" | "pascal" => lower.iter().map(capital).collect(),
        "camelCase" | "camel" => lower
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.clone() } else { capital(w) })
            .collect(),
        _ => lower.join("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        let file = syn::parse_file(src).unwrap();
        let mut v = SubcommandVisitor {
            file: "src/main.rs",
            found: Vec::new(),
        };
        v.visit_file(&file);
        v.found
            .into_iter()
            .map(|s| format!("{} {}", s.name, s.at))
            .collect()
    }

    #[test]
    fn subcommands_with_names_cases_and_test_code() {
        let src = r#"
#[derive(Parser)]
struct Cli { #[command(subcommand)] cmd: Cmd }
#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Serve HTTP.
    Serve { #[arg(long)] port: u16 },
    RunMigrations,
    #[command(name = "web-server", about = "x")]
    Web,
    #[command(skip)]
    Hidden,
}
#[derive(Subcommand)]
#[command(rename_all = "snake_case")]
enum Admin { ResetAll }
#[cfg(test)]
mod tests {
    #[derive(Subcommand)]
    enum Fake { Server }
}
"#;
        assert_eq!(
            names(src),
            [
                "serve src/main.rs:7",
                "run-migrations src/main.rs:8",
                "web-server src/main.rs:10",
                "reset_all src/main.rs:16",
            ]
        );
    }

    #[test]
    fn cases() {
        assert_eq!(rename("RunHTTPServer", "kebab-case"), "run-http-server");
        assert_eq!(rename("StartNow", "camelCase"), "startNow");
        assert_eq!(rename("StartNow", "SCREAMING_SNAKE_CASE"), "START_NOW");
        assert_eq!(rename("StartNow", "lower"), "startnow");
        assert_eq!(rename("StartNow", "verbatim"), "StartNow");
    }

    #[test]
    fn procfile_lines() {
        let p = parse_procfile(
            "Procfile",
            "# processes\nweb: ./target/release/app server --port $PORT\n\nworker: app jobs\nrelease: ./target/release/app migrate\n",
        );
        assert_eq!(
            p.web,
            Some(Located {
                value: ["./target/release/app", "server", "--port", "$PORT"]
                    .map(String::from)
                    .to_vec(),
                line: 2
            })
        );
        assert_eq!(p.release.map(|r| r.line), Some(5));
    }
}

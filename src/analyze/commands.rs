//! How the project says its binary is run: the `Procfile`'s `web` and `release` processes, and
//! the clap command line each binary compiles (subcommands and arguments, in the derive and the
//! builder forms), read with `syn`. Facts only: `plan` decides the image's arguments from them.

use crate::model::{CliArg, CliArgKind, CliFacts, Located, Package, Procfile, Subcommand};
use quote::ToTokens;
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

/// The clap command line of each binary of `pkg`, read from the files the binary compiles and
/// from the package's library when the binary uses it.
pub fn scan_cli(root: &Path, pkg: &Package) -> BTreeMap<String, CliFacts> {
    let mut cache: BTreeMap<String, Defs> = BTreeMap::new();
    let lib_files = if pkg.has_lib && pkg.source.bins.values().any(|b| b.uses_lib) {
        library_files(root, &pkg.dir)
    } else {
        Vec::new()
    };
    let mut out = BTreeMap::new();
    for (name, bin) in &pkg.source.bins {
        let mut defs = Defs::default();
        let files = bin
            .files
            .iter()
            .chain(lib_files.iter().filter(|_| bin.uses_lib));
        for f in files {
            let d = cache.entry(f.clone()).or_insert_with(|| scan_file(root, f));
            defs.extend(d);
        }
        let facts = resolve(&defs);
        if facts != CliFacts::default() {
            out.insert(name.clone(), facts);
        }
    }
    out
}

/// The clap command line a library in `dir` (root-relative) declares.
pub fn scan_library_cli(root: &Path, dir: &str) -> CliFacts {
    let mut defs = Defs::default();
    for f in library_files(root, dir) {
        defs.extend(&scan_file(root, &f));
    }
    resolve(&defs)
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

/// What one file declares of a clap command line; a file that names none of clap's derives or
/// builders is not parsed.
fn scan_file(root: &Path, rel: &str) -> Defs {
    let Ok(text) = std::fs::read_to_string(root.join(rel)) else {
        return Defs::default();
    };
    if ![
        "ubcommand",
        "Parser",
        "StructOpt",
        "Command::new",
        "App::new",
        "command!",
        "::parse()",
        "::try_parse()",
        "::from_args()",
        "parse_from(",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        return Defs::default();
    }
    let Ok(file) = syn::parse_file(&text) else {
        return Defs::default();
    };
    let mut v = CliVisitor {
        file: rel,
        defs: Defs::default(),
        vars: BTreeMap::new(),
        fn_name: None,
    };
    v.visit_file(&file);
    let mut defs = v.defs;
    for (_, (fn_name, cmd)) in v.vars {
        defs.builders.push((fn_name, cmd));
    }
    defs
}

/// Clap declarations of a set of files, before they are joined into a [`CliFacts`].
#[derive(Debug, Default, Clone)]
struct Defs {
    structs: Vec<StructDef>,
    enums: Vec<EnumDef>,
    /// Types whose `parse()`/`from_args()` the code calls: the top of a derive command line.
    roots: Vec<String>,
    /// Builder commands not inside another's `.subcommand(...)`, with the function they are in.
    builders: Vec<(Option<String>, Cmd)>,
}

impl Defs {
    fn extend(&mut self, other: &Defs) {
        self.structs.extend(other.structs.iter().cloned());
        self.enums.extend(other.enums.iter().cloned());
        self.roots.extend(other.roots.iter().cloned());
        self.builders.extend(other.builders.iter().cloned());
    }

    fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }

    fn enum_def(&self, name: &str) -> Option<&EnumDef> {
        self.enums.iter().find(|e| e.name == name)
    }
}

/// A struct deriving `Parser`, `Args` or `StructOpt`.
#[derive(Debug, Clone)]
struct StructDef {
    name: String,
    fields: Vec<Field>,
    /// `#[command(subcommand_required = true)]`.
    subcommand_required: bool,
    /// Derives `Parser` or `StructOpt` (not only `Args`): a command line of its own.
    parser: bool,
}

/// An enum deriving `Parser`, `Subcommand` or `StructOpt`.
#[derive(Debug, Clone)]
struct EnumDef {
    name: String,
    at: String,
    variants: Vec<Variant>,
    /// Derives `Subcommand` (not only `Parser`): listed even when no `parse()` call is found.
    subcommand: bool,
}

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    at: String,
    /// The type of a one-field tuple variant: its arguments, or its nested subcommands.
    child: Option<String>,
    /// The fields of a struct variant: its arguments.
    fields: Vec<Field>,
    /// `#[command(flatten)]`: the child enum's variants are this level's.
    flatten: bool,
}

/// One field of a derive struct or struct variant, with what its clap attributes say.
#[derive(Debug, Clone, Default)]
struct Field {
    ident: String,
    at: String,
    /// The type's outer name (`Option`, `Vec`, `bool`, `PathBuf`, ...).
    outer: String,
    /// The type inside `Option<...>`/`Box<...>`, else the type's own name.
    inner: String,
    path_type: bool,
    long: Option<String>,
    short: bool,
    default: bool,
    env: bool,
    subcommand: bool,
    flatten: bool,
    skip: bool,
    required: Option<bool>,
    value_name: Option<String>,
    help: String,
}

/// A builder command: `Command::new("name")` (or clap 2's `App::new`/`SubCommand::with_name`).
#[derive(Debug, Clone, Default)]
struct Cmd {
    name: String,
    at: String,
    args: Vec<BuilderArg>,
    subs: Vec<SubRef>,
    required: bool,
}

#[derive(Debug, Clone)]
enum SubRef {
    Inline(Cmd),
    /// `.subcommand(serve_command())`: the command a function of that name builds.
    Fn(String),
}

/// A builder argument: `Arg::new("name")` and its methods.
#[derive(Debug, Clone, Default)]
struct BuilderArg {
    id: String,
    at: String,
    long: Option<String>,
    short: bool,
    required: bool,
    default: bool,
    env: bool,
    path_type: bool,
    flag: bool,
    value_name: Option<String>,
    help: String,
}

/// Names of a positional path that is what the server serves.
const SERVE_NAMES: &[&str] = &[
    "path",
    "dir",
    "directory",
    "root",
    "serve_path",
    "serve_dir",
    "webroot",
    "www",
    "docroot",
    "document_root",
    "public",
];

/// What an argument named `name` with `help` means.
fn kind(name: &str, path_type: bool, help: &str) -> CliArgKind {
    let lower = name.to_lowercase().replace('-', "_");
    let bare = lower.trim_start_matches('_');
    if lower.contains("config") || lower == "conf" || lower.ends_with("_conf") {
        CliArgKind::ConfigFile
    } else if bare == "port" || bare.ends_with("_port") {
        CliArgKind::Port
    } else if path_type
        && (SERVE_NAMES.contains(&lower.as_str()) || help.to_lowercase().contains("serve"))
    {
        CliArgKind::ServeDir
    } else {
        CliArgKind::Other
    }
}

/// Joins the declarations into what the binary accepts: from each `parse()` root (derive) and
/// each builder command that is no other's subcommand; with neither, every `Subcommand` enum's
/// variants (not required: nothing says how they are reached).
fn resolve(defs: &Defs) -> CliFacts {
    let mut out = CliFacts::default();
    let mut roots: Vec<&String> = Vec::new();
    for r in &defs.roots {
        if !roots.contains(&r) && (defs.struct_def(r).is_some() || defs.enum_def(r).is_some()) {
            roots.push(r);
        }
    }
    let referenced: Vec<&str> = defs.builders.iter().flat_map(|(_, c)| fn_refs(c)).collect();
    let builders: Vec<&Cmd> = defs
        .builders
        .iter()
        .filter(|(f, c)| {
            !f.as_deref().is_some_and(|f| referenced.contains(&f))
                && (!c.args.is_empty() || !c.subs.is_empty())
        })
        .map(|(_, c)| c)
        .collect();
    if roots.is_empty() && builders.is_empty() {
        // A framework that parses the command line itself (abscissa's `boot`): the one `Parser`
        // struct no other declaration uses is the root.
        if let [top] = top_parsers(defs)[..] {
            walk_struct(defs, top, &[], &mut out, &mut Vec::new());
            return out;
        }
        for e in defs.enums.iter().filter(|e| e.subcommand) {
            walk_enum(defs, e, &[], &mut out, &mut Vec::new());
        }
        return out;
    }
    for r in roots {
        if let Some(s) = defs.struct_def(r) {
            walk_struct(defs, s, &[], &mut out, &mut Vec::new());
        } else if let Some(e) = defs.enum_def(r) {
            out.required_subcommand.push((Vec::new(), e.at.clone()));
            walk_enum(defs, e, &[], &mut out, &mut Vec::new());
        }
    }
    for c in builders {
        walk_cmd(defs, c, &[], &mut out);
    }
    out
}

/// The structs deriving `Parser` that are no field's or variant's type.
fn top_parsers(defs: &Defs) -> Vec<&StructDef> {
    let fields = defs.structs.iter().flat_map(|s| &s.fields).chain(
        defs.enums
            .iter()
            .flat_map(|e| &e.variants)
            .flat_map(|v| &v.fields),
    );
    let used: Vec<&str> = fields
        .map(|f| f.inner.as_str())
        .chain(
            defs.enums
                .iter()
                .flat_map(|e| &e.variants)
                .filter_map(|v| v.child.as_deref()),
        )
        .collect();
    defs.structs
        .iter()
        .filter(|s| s.parser && !used.contains(&s.name.as_str()))
        .collect()
}

/// Nesting deeper than this is not followed.
const MAX_DEPTH: usize = 8;

fn fn_refs(c: &Cmd) -> Vec<&str> {
    let mut out = Vec::new();
    for s in &c.subs {
        match s {
            SubRef::Fn(f) => out.push(f.as_str()),
            SubRef::Inline(c) => out.extend(fn_refs(c)),
        }
    }
    out
}

fn walk_struct(
    defs: &Defs,
    s: &StructDef,
    scope: &[String],
    out: &mut CliFacts,
    stack: &mut Vec<String>,
) {
    if stack.len() > MAX_DEPTH || stack.contains(&s.name) {
        return;
    }
    stack.push(s.name.clone());
    walk_fields(defs, &s.fields, s.subcommand_required, scope, out, stack);
    stack.pop();
}

fn walk_fields(
    defs: &Defs,
    fields: &[Field],
    subcommand_required: bool,
    scope: &[String],
    out: &mut CliFacts,
    stack: &mut Vec<String>,
) {
    for f in fields {
        if f.skip {
            continue;
        }
        if f.subcommand {
            if let Some(e) = defs.enum_def(&f.inner) {
                if f.outer != "Option" || subcommand_required {
                    out.required_subcommand.push((scope.to_vec(), f.at.clone()));
                }
                walk_enum(defs, e, scope, out, stack);
            }
            continue;
        }
        if f.flatten {
            if let Some(s) = defs.struct_def(&f.inner) {
                walk_struct(defs, s, scope, out, stack);
            }
            continue;
        }
        let positional = f.long.is_none() && !f.short;
        let optional = matches!(f.outer.as_str(), "Option" | "Vec" | "bool") || f.default;
        let name = if positional {
            f.value_name
                .clone()
                .unwrap_or_else(|| f.ident.to_uppercase())
        } else {
            match &f.long {
                Some(l) if !l.is_empty() => format!("--{l}"),
                Some(_) => format!("--{}", f.ident.replace('_', "-")),
                None => format!("-{}", f.ident.chars().next().unwrap_or('?')),
            }
        };
        let meaning = f.value_name.as_deref().unwrap_or(&f.ident);
        out.args.push(CliArg {
            scope: scope.to_vec(),
            required: f.required.unwrap_or(!optional) && !f.env && !f.default,
            kind: kind(
                if kind(meaning, false, "") == CliArgKind::ConfigFile {
                    meaning
                } else {
                    &f.ident
                },
                f.path_type,
                &f.help,
            ),
            name,
            positional,
            at: f.at.clone(),
        });
    }
}

fn walk_enum(
    defs: &Defs,
    e: &EnumDef,
    scope: &[String],
    out: &mut CliFacts,
    stack: &mut Vec<String>,
) {
    if stack.len() > MAX_DEPTH || stack.contains(&e.name) {
        return;
    }
    stack.push(e.name.clone());
    for v in &e.variants {
        if v.flatten {
            if let Some(child) = v.child.as_deref().and_then(|c| defs.enum_def(c)) {
                walk_enum(defs, child, scope, out, stack);
            }
            continue;
        }
        let mut words = scope.to_vec();
        words.push(v.name.clone());
        if !out.subcommands.iter().any(|s| s.words == words) {
            out.subcommands.push(Subcommand {
                name: v.name.clone(),
                words: words.clone(),
                at: v.at.clone(),
            });
        }
        if let Some(child) = &v.child {
            if let Some(nested) = defs.enum_def(child) {
                out.required_subcommand.push((words.clone(), v.at.clone()));
                walk_enum(defs, nested, &words, out, stack);
            } else if let Some(s) = defs.struct_def(child) {
                walk_struct(defs, s, &words, out, stack);
            }
        }
        walk_fields(defs, &v.fields, false, &words, out, stack);
    }
    stack.pop();
}

fn walk_cmd(defs: &Defs, c: &Cmd, scope: &[String], out: &mut CliFacts) {
    if scope.len() > MAX_DEPTH {
        return;
    }
    if c.required && !c.subs.is_empty() {
        out.required_subcommand.push((scope.to_vec(), c.at.clone()));
    }
    for a in &c.args {
        let positional = a.long.is_none() && !a.short;
        out.args.push(CliArg {
            scope: scope.to_vec(),
            name: match &a.long {
                Some(l) => format!("--{l}"),
                None if a.short => format!("-{}", a.id),
                None => a.value_name.clone().unwrap_or_else(|| a.id.clone()),
            },
            positional,
            required: a.required && !a.default && !a.env && !a.flag,
            kind: kind(
                a.value_name
                    .as_deref()
                    .filter(|v| kind(v, false, "") == CliArgKind::ConfigFile)
                    .unwrap_or(&a.id),
                a.path_type,
                &a.help,
            ),
            at: a.at.clone(),
        });
    }
    for s in &c.subs {
        let sub = match s {
            SubRef::Inline(c) => Some(c),
            SubRef::Fn(f) => defs
                .builders
                .iter()
                .find(|(name, _)| name.as_deref() == Some(f.as_str()))
                .map(|(_, c)| c),
        };
        let Some(sub) = sub else { continue };
        let mut words = scope.to_vec();
        words.push(sub.name.clone());
        if !out.subcommands.iter().any(|s| s.words == words) {
            out.subcommands.push(Subcommand {
                name: sub.name.clone(),
                words: words.clone(),
                at: sub.at.clone(),
            });
        }
        walk_cmd(defs, sub, &words, out);
    }
}

struct CliVisitor<'a> {
    file: &'a str,
    defs: Defs,
    /// `let app = Command::new(...)...;` and later `let app = app.arg(...)`: the command each
    /// local builds, with the function it is in.
    vars: BTreeMap<String, (Option<String>, Cmd)>,
    fn_name: Option<String>,
}

impl CliVisitor<'_> {
    fn at(&self, span: proc_macro2::Span) -> String {
        format!("{}:{}", self.file, span.start().line)
    }

    fn field(
        &self,
        ident: String,
        ty: &syn::Type,
        attrs: &[syn::Attribute],
        span: proc_macro2::Span,
    ) -> Field {
        let attrs = &super::cfg::active(attrs);
        let (outer, inner) = type_names(ty);
        let tokens = ty.to_token_stream().to_string();
        let mut f = Field {
            ident,
            at: self.at(span),
            path_type: tokens.contains("PathBuf") || tokens.contains("OsString"),
            outer,
            inner,
            help: doc(attrs),
            ..Field::default()
        };
        for a in attrs.iter().filter(|a| is_clap_attr(a)) {
            let _ = a.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let value: Option<syn::Expr> = if meta.input.peek(syn::Token![=]) {
                    Some(meta.value()?.parse()?)
                } else {
                    if meta.input.peek(syn::token::Paren) {
                        let content;
                        syn::parenthesized!(content in meta.input);
                        let inside: proc_macro2::TokenStream = content.parse()?;
                        if key == "parse" && inside.to_string().contains("os_str") {
                            f.path_type = true;
                        }
                    }
                    None
                };
                let text = value.as_ref().map(lit_str);
                match key.as_str() {
                    "long" => f.long = Some(text.flatten().unwrap_or_default()),
                    "short" => f.short = true,
                    "env" => f.env = true,
                    "subcommand" => f.subcommand = true,
                    "flatten" => f.flatten = true,
                    "skip" => f.skip = true,
                    "required" => {
                        f.required = Some(
                            value
                                .as_ref()
                                .is_none_or(|v| v.to_token_stream().to_string() != "false"),
                        )
                    }
                    "name" | "value_name" | "id" => {
                        if let Some(Some(t)) = text {
                            f.value_name = Some(t);
                        }
                    }
                    "help" | "about" => {
                        if let Some(Some(t)) = text {
                            f.help.push(' ');
                            f.help.push_str(&t);
                        }
                    }
                    "value_hint" => {
                        let hint = value
                            .as_ref()
                            .map(|v| v.to_token_stream().to_string())
                            .unwrap_or_default();
                        if hint.contains("DirPath") || hint.contains("AnyPath") {
                            f.path_type = true;
                        }
                    }
                    k if k.starts_with("default_value") || k == "default_missing_value" => {
                        f.default = true
                    }
                    _ => {}
                }
                Ok(())
            });
        }
        f
    }

    /// The builder command `e` builds, when it is a `Command::new(...)` chain or continues a
    /// local's.
    fn builder(&self, e: &syn::Expr) -> Option<(Option<String>, Cmd)> {
        let (base, methods) = unwind(e);
        let mut out = match base {
            Base::New(name, span) => (
                None,
                Cmd {
                    name,
                    at: self.at(span),
                    ..Cmd::default()
                },
            ),
            Base::Var(v) => self.vars.get(&v).cloned()?,
            Base::Other => return None,
        };
        for m in methods.iter().rev() {
            self.apply(&mut out.1, m);
        }
        Some(out)
    }

    fn apply(&self, cmd: &mut Cmd, m: &syn::ExprMethodCall) {
        let first = m.args.first();
        match m.method.to_string().as_str() {
            "arg" => {
                if let Some(a) = first.and_then(|a| self.arg(a)) {
                    cmd.args.push(a);
                }
            }
            "args" => {
                if let Some(list) = first {
                    for a in elements(list) {
                        if let Some(a) = self.arg(&a) {
                            cmd.args.push(a);
                        }
                    }
                }
            }
            "subcommand" => {
                if let Some(s) = first.and_then(|s| self.sub(s)) {
                    cmd.subs.push(s);
                }
            }
            "subcommands" => {
                if let Some(list) = first {
                    for s in elements(list) {
                        if let Some(s) = self.sub(&s) {
                            cmd.subs.push(s);
                        }
                    }
                }
            }
            "subcommand_required"
                if first.is_some_and(|a| a.to_token_stream().to_string() == "true") =>
            {
                cmd.required = true;
            }
            "setting" | "settings" => {
                let t = m.args.to_token_stream().to_string();
                if t.contains("SubcommandRequired") {
                    cmd.required = true;
                }
            }
            _ => {}
        }
    }

    fn sub(&self, e: &syn::Expr) -> Option<SubRef> {
        if let syn::Expr::Call(c) = e {
            if let syn::Expr::Path(p) = &*c.func {
                if c.args.is_empty() && p.path.segments.len() == 1 {
                    return Some(SubRef::Fn(p.path.segments[0].ident.to_string()));
                }
            }
        }
        self.builder(e).map(|(_, c)| SubRef::Inline(c))
    }

    fn arg(&self, e: &syn::Expr) -> Option<BuilderArg> {
        let (base, methods) = unwind_arg(e);
        let (id, span) = base?;
        let mut a = BuilderArg {
            id,
            at: self.at(span),
            ..BuilderArg::default()
        };
        for m in methods.iter().rev() {
            let first = m.args.first();
            let text = first.and_then(lit_str);
            let tokens = m.args.to_token_stream().to_string();
            match m.method.to_string().as_str() {
                "long" => a.long = Some(text.unwrap_or_else(|| a.id.clone())),
                "short" => a.short = true,
                "required" => a.required = tokens == "true",
                "env" => a.env = true,
                "value_name" => a.value_name = text,
                "help" | "long_help" => {
                    a.help.push(' ');
                    a.help.push_str(&text.unwrap_or_default());
                }
                "value_parser" if tokens.contains("PathBuf") => a.path_type = true,
                "value_hint" if tokens.contains("DirPath") || tokens.contains("AnyPath") => {
                    a.path_type = true
                }
                "allow_invalid_utf8" => a.path_type = true,
                "takes_value" if tokens == "false" => a.flag = true,
                "action"
                    if ["SetTrue", "SetFalse", "Count", "Help", "Version"]
                        .iter()
                        .any(|x| tokens.contains(x)) =>
                {
                    a.flag = true
                }
                m if m.starts_with("default_value") => a.default = true,
                _ => {}
            }
        }
        Some(a)
    }
}

/// Where a builder chain starts.
enum Base {
    New(String, proc_macro2::Span),
    Var(String),
    Other,
}

/// A method chain's receiver at its start (parentheses looked through) and its method calls,
/// outermost first.
fn chain(e: &syn::Expr) -> (&syn::Expr, Vec<&syn::ExprMethodCall>) {
    let mut methods = Vec::new();
    let mut e = e;
    loop {
        match e {
            syn::Expr::MethodCall(m) => {
                methods.push(m);
                e = &m.receiver;
            }
            syn::Expr::Paren(p) => e = &p.expr,
            _ => return (e, methods),
        }
    }
}

/// A call of a path function at the start of a chain: the path as written without spaces, the
/// call, and the span of the path's first segment.
fn path_call(e: &syn::Expr) -> Option<(String, &syn::ExprCall, proc_macro2::Span)> {
    let syn::Expr::Call(c) = e else { return None };
    let syn::Expr::Path(p) = &*c.func else {
        return None;
    };
    let s = p.path.to_token_stream().to_string().replace(' ', "");
    Some((s, c, p.path.segments[0].ident.span()))
}

/// The chain's start and its method calls, outermost first.
fn unwind(e: &syn::Expr) -> (Base, Vec<&syn::ExprMethodCall>) {
    let (start, methods) = chain(e);
    let base = match start {
        syn::Expr::Call(_) => match path_call(start) {
            Some((s, c, span))
                if [
                    "Command::new",
                    "App::new",
                    "SubCommand::with_name",
                    "Command::with_name",
                ]
                .iter()
                .any(|n| s == *n || s.ends_with(&format!("::{n}"))) =>
            {
                Base::New(c.args.first().and_then(lit_str).unwrap_or_default(), span)
            }
            _ => Base::Other,
        },
        syn::Expr::Macro(m)
            if m.mac
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "command") =>
        {
            Base::New(String::new(), m.mac.path.segments[0].ident.span())
        }
        syn::Expr::Path(p) if p.path.segments.len() == 1 => {
            Base::Var(p.path.segments[0].ident.to_string())
        }
        _ => Base::Other,
    };
    (base, methods)
}

/// An `Arg::new("id")` chain: the id, where it is, and its methods outermost first.
fn unwind_arg(
    e: &syn::Expr,
) -> (
    Option<(String, proc_macro2::Span)>,
    Vec<&syn::ExprMethodCall>,
) {
    let (start, methods) = chain(e);
    let id = path_call(start)
        .filter(|(s, ..)| s.ends_with("Arg::new") || s.ends_with("Arg::with_name"))
        .and_then(|(_, c, span)| c.args.first().and_then(lit_str).map(|id| (id, span)));
    (id, methods)
}

/// The elements of `[a, b]`, `&[a, b]` or `vec![a, b]`.
fn elements(e: &syn::Expr) -> Vec<syn::Expr> {
    match e {
        syn::Expr::Array(a) => a.elems.iter().cloned().collect(),
        syn::Expr::Reference(r) => elements(&r.expr),
        syn::Expr::Macro(m) => m
            .mac
            .parse_body_with(
                syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
            )
            .map(|p| p.into_iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The string of a string literal expression.
fn lit_str(e: &syn::Expr) -> Option<String> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// `(outer, inner)` names of a type: `Option<PathBuf>` is `("Option", "PathBuf")`.
fn type_names(ty: &syn::Type) -> (String, String) {
    let last = |ty: &syn::Type| -> Option<syn::PathSegment> {
        match ty {
            syn::Type::Path(p) => p.path.segments.last().cloned(),
            _ => None,
        }
    };
    let Some(seg) = last(ty) else {
        return (String::new(), String::new());
    };
    let outer = seg.ident.to_string();
    let inner = match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) if matches!(outer.as_str(), "Option" | "Box") => a
            .args
            .iter()
            .find_map(|g| match g {
                syn::GenericArgument::Type(t) => last(t).map(|s| s.ident.to_string()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => outer.clone(),
    };
    (outer, inner)
}

/// The doc comment's text.
fn doc(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => lit_str(&nv.value),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_clap_attr(a: &syn::Attribute) -> bool {
    ["arg", "clap", "structopt", "command"]
        .iter()
        .any(|n| a.path().is_ident(n))
}

impl<'ast> Visit<'ast> for CliVisitor<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if cfg_test(&f.attrs)
            || f.attrs
                .iter()
                .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "test"))
        {
            return;
        }
        let outer = self.fn_name.replace(f.sig.ident.to_string());
        syn::visit::visit_item_fn(self, f);
        self.fn_name = outer;
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        if cfg_test(&s.attrs) || !derives(&s.attrs, &["Parser", "Args", "StructOpt"]) {
            return;
        }
        let fields = match &s.fields {
            syn::Fields::Named(n) => n
                .named
                .iter()
                .filter_map(|f| {
                    let ident = f.ident.as_ref()?;
                    Some(self.field(ident.to_string(), &f.ty, &f.attrs, ident.span()))
                })
                .collect(),
            _ => Vec::new(),
        };
        self.defs.structs.push(StructDef {
            name: s.ident.to_string(),
            fields,
            subcommand_required: command_flag(&s.attrs, "subcommand_required"),
            parser: derives(&s.attrs, &["Parser", "StructOpt"]),
        });
    }

    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        if cfg_test(&e.attrs) || !derives(&e.attrs, &["Parser", "Subcommand", "StructOpt"]) {
            return;
        }
        let case = command_value(&e.attrs, "rename_all").unwrap_or_else(|| "kebab-case".into());
        let mut variants = Vec::new();
        for v in &e.variants {
            if command_flag(&v.attrs, "skip") || command_flag(&v.attrs, "external_subcommand") {
                continue;
            }
            let name = command_value(&v.attrs, "name")
                .unwrap_or_else(|| rename(&v.ident.to_string(), &case));
            let (child, fields) = match &v.fields {
                syn::Fields::Unnamed(u) if u.unnamed.len() == 1 => {
                    (Some(type_names(&u.unnamed[0].ty).1), Vec::new())
                }
                syn::Fields::Named(n) => (
                    None,
                    n.named
                        .iter()
                        .filter_map(|f| {
                            let ident = f.ident.as_ref()?;
                            Some(self.field(ident.to_string(), &f.ty, &f.attrs, ident.span()))
                        })
                        .collect(),
                ),
                _ => (None, Vec::new()),
            };
            variants.push(Variant {
                name,
                at: self.at(v.ident.span()),
                child,
                fields,
                flatten: command_flag(&v.attrs, "flatten"),
            });
        }
        self.defs.enums.push(EnumDef {
            name: e.ident.to_string(),
            at: self.at(e.ident.span()),
            variants,
            subcommand: derives(&e.attrs, &["Subcommand", "StructOpt"]),
        });
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let (syn::Pat::Ident(p), Some(init)) = (&l.pat, &l.init) {
            if let Some((_, cmd)) = self.builder(&init.expr) {
                self.vars
                    .insert(p.ident.to_string(), (self.fn_name.clone(), cmd));
                return;
            }
        }
        syn::visit::visit_local(self, l);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let outer = syn::Expr::MethodCall(m.clone());
        if let (Base::Var(v), _) = unwind(&outer) {
            if self.vars.contains_key(&v) {
                if let Some(found) = self.builder(&outer) {
                    self.vars.insert(v, found);
                    return;
                }
            }
        }
        if let (Base::New(..), _) = unwind(&outer) {
            if let Some((_, cmd)) = self.builder(&outer) {
                self.defs.builders.push((self.fn_name.clone(), cmd));
                return;
            }
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func {
            let segs = &p.path.segments;
            if segs.len() >= 2 {
                let method = segs[segs.len() - 1].ident.to_string();
                let ty = segs[segs.len() - 2].ident.to_string();
                let arity = match method.as_str() {
                    "parse" | "try_parse" | "from_args" => Some(0),
                    "parse_from" | "try_parse_from" | "from_iter" => Some(1),
                    _ => None,
                };
                if arity == Some(c.args.len()) && ty != "Self" {
                    self.defs.roots.push(ty);
                }
            }
        }
        syn::visit::visit_expr_call(self, c);
    }
}

/// `#[cfg(test)]` (also inside `any(...)`/`all(...)` as the only condition).
fn cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// `#[derive(...)]` names one of `names` (also by a path such as `clap::Subcommand`).
fn derives(attrs: &[syn::Attribute], names: &[&str]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| {
                paths.iter().any(|p| {
                    p.segments
                        .last()
                        .is_some_and(|s| names.iter().any(|n| s.ident == n))
                })
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

    fn facts(src: &str) -> CliFacts {
        let file = syn::parse_file(src).unwrap();
        let mut v = CliVisitor {
            file: "src/main.rs",
            defs: Defs::default(),
            vars: BTreeMap::new(),
            fn_name: None,
        };
        v.visit_file(&file);
        let mut defs = v.defs;
        for (_, (fn_name, cmd)) in v.vars {
            defs.builders.push((fn_name, cmd));
        }
        resolve(&defs)
    }

    fn names(src: &str) -> Vec<String> {
        facts(src)
            .subcommands
            .into_iter()
            .map(|s| format!("{} {}", s.words.join(" "), s.at))
            .collect()
    }

    #[test]
    fn subcommands_with_names_cases_and_test_code() {
        let src = r#"
#[derive(Args)]
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

    /// A framework that parses the command line itself (abscissa): no `parse()` call, and the
    /// one `Parser` struct nothing else uses is the root, its subcommand required.
    #[test]
    fn the_only_top_parser_struct_is_the_root_without_a_parse_call() {
        let src = r#"
#[derive(clap::Parser, Command, Debug)]
pub struct EntryPoint {
    #[command(subcommand)]
    cmd: Cmd,
    #[arg(short, long, global = true)]
    pub verbose: bool,
}
#[derive(clap::Parser, Command, Debug, Runnable)]
pub enum Cmd {
    Auth(AuthCmd),
    Serve(ServeCmd),
}
#[derive(clap::Parser, Command, Debug)]
pub struct ServeCmd { #[clap(flatten)] settings: Settings }
#[derive(clap::Parser, Command, Debug)]
pub struct AuthCmd {}
#[derive(Parser)]
pub struct Settings { #[arg(long, env = "LISTEN")] listen: Option<String> }
#[derive(Subcommand)]
enum Unused { Server }
"#;
        let facts = facts(src);
        assert_eq!(
            facts
                .subcommands
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["auth", "serve"]
        );
        assert_eq!(facts.required_subcommand.len(), 1);
    }

    #[test]
    fn builder_subcommands_from_functions_and_a_cycle_of_enums() {
        let src = r#"
fn serve_cmd() -> App<'static, 'static> {
    SubCommand::with_name("serve").arg(Arg::with_name("dir").help("directory to serve").required(true))
}
fn main() {
    let m = App::new("x").setting(AppSettings::SubcommandRequiredElseHelp).subcommand(serve_cmd()).get_matches();
}
#[derive(Parser)]
enum Loop { Again(Loop), Serve }
"#;
        let f = facts(src);
        assert_eq!(
            f.subcommands
                .iter()
                .map(|s| s.words.join(" "))
                .collect::<Vec<_>>(),
            ["serve"]
        );
        assert_eq!(
            f.required_subcommand,
            [(vec![], "src/main.rs:6".to_string())]
        );
        assert_eq!(f.args[0].name, "dir");
        assert_eq!(f.args[0].scope, ["serve"]);
        assert!(f.args[0].required);
        let f = facts(&format!("{src}\nfn run() {{ let _ = Loop::parse(); }}"));
        let words: Vec<String> = f.subcommands.iter().map(|s| s.words.join(" ")).collect();
        assert!(
            words.contains(&"again".to_string()) && words.contains(&"serve".to_string()),
            "{words:?}"
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

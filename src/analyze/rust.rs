//! Reading one Rust file with a real parser (`syn`): what it listens on, which env vars it
//! reads, its signal handling, routes, frameworks and the modules it declares.
//!
//! Test code is skipped (`#[cfg(test)]` and `#[test]` items, `mod tests`), as are comments and
//! doc comments. Values are followed through consts, zero-argument functions returning a
//! literal and simple conversions (`String::from`, `.to_string()`, `.into()`); a const another
//! file defines is resolved by the caller once the package's files are read ([`Val::Const`]).

use crate::model::{PortKind, SignalFacts};
use proc_macro2::Span;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, Lit, Token};

/// A value the code gives: a literal, or a const (or zero-argument fn, as `name()`) to resolve.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(u64),
    Str(String),
    Const(String),
}

/// A listen port or host as written, before consts are resolved.
#[derive(Debug, Clone)]
pub struct RawPort {
    /// None when only the host is known (`format!("127.0.0.1:{port}")`).
    pub port: Option<Val>,
    pub host: Option<String>,
    pub line: usize,
    pub kind: PortKind,
}

/// An env var read, before consts are resolved.
#[derive(Debug, Clone)]
pub struct RawEnv {
    pub name: Val,
    pub default: Option<Val>,
    pub required: bool,
    pub line: usize,
    /// Read by clap (`env = ...`): a port-named field's default is the port.
    pub port_field: bool,
}

/// Everything one file says, with 1-based lines.
#[derive(Debug, Default)]
pub struct FileFindings {
    pub ports: Vec<RawPort>,
    pub env: Vec<RawEnv>,
    pub consts: Vec<(String, Val)>,
    pub server: bool,
    pub signals: SignalFacts,
    pub signals_disabled: bool,
    pub health_paths: Vec<String>,
    pub runtime_dirs: Vec<String>,
    pub compile_time_dirs: Vec<String>,
    /// Crate names of known frameworks the code names, with the line of the first use.
    pub crates: Vec<(String, usize)>,
    pub listeners: Vec<String>,
    /// `mod name;` declarations outside test code: (path of the module relative to this file's
    /// module directory, without extension, `#[path]` value).
    pub mods: Vec<(String, Option<String>)>,
    /// `set_default("key", value)` of top-level keys, for a config env prefix.
    pub config_defaults: Vec<(String, Val, usize)>,
    /// `Environment::with_prefix("APP")` / `envy::prefixed("APP_")`: env vars named
    /// `APP_<KEY>` override the config's keys.
    pub env_prefix: Option<String>,
    /// The `config` crate's `Environment` source: prefix, separator, prefix separator, line.
    pub config_env: Option<ConfigEnv>,
    /// `#[shuttle_runtime::main]` and the like: the line of an entry attribute that replaces main.
    pub foreign_main: Option<usize>,
    /// Clap flags of the listen address whose default is loopback and that no env var sets.
    pub listen_flags: Vec<RawListenFlag>,
}

/// A clap flag of the listen address (`--listen`, default "::1", no `env`).
#[derive(Debug, Clone)]
pub struct RawListenFlag {
    /// The flag as typed: `--listen`.
    pub flag: String,
    /// Its default value.
    pub default: String,
    /// The field's type as written (`IpAddr`, `std::net::Ipv4Addr`, `String`).
    pub ty: String,
    pub line: usize,
}

/// `config::Environment` as the code builds it.
#[derive(Debug, Default, Clone)]
pub struct ConfigEnv {
    pub prefix: Option<String>,
    pub separator: Option<String>,
    pub prefix_separator: Option<String>,
    pub line: usize,
}

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

/// Parses `text`; `None` when it is not valid Rust (the caller skips such a file).
pub fn read(text: &str) -> Option<FileFindings> {
    let file = syn::parse_file(text).ok()?;
    let mut v = Scan::default();
    for a in &file.attrs {
        if is_test_attr(a) {
            return Some(v.out);
        }
    }
    v.visit_file(&file);
    if v.out.signals_disabled {
        v.out.signals.sigterm = false;
    }
    Some(v.out)
}

#[derive(Default)]
struct Scan {
    out: FileFindings,
    /// Inline modules being visited (for the path of their `mod x;` declarations).
    mod_stack: Vec<String>,
    /// Depth inside a compile-time embedding macro or attribute.
    compile_time: usize,
    /// `let name = <literal>` of the function being visited, for `format!("127.0.0.1:{}", port)`.
    locals: std::collections::HashMap<String, Val>,
    /// Lines of env calls already recorded through a method chain.
    seen_env: std::collections::HashSet<(usize, usize)>,
    /// The format string just read gave a whole address: its host-only finding is not added.
    literal_done: bool,
}

fn line(span: Span) -> usize {
    span.start().line
}

/// `#[test]`, `#[tokio::test]`, `#[cfg(test)]`, `#[cfg(any(test, ...))]` (not `not(test)`).
fn is_test_attr(a: &Attribute) -> bool {
    let path = a.path();
    if path.segments.last().is_some_and(|s| s.ident == "test") {
        return true;
    }
    if path.is_ident("cfg") {
        let tokens = a.meta.to_token_stream().to_string();
        let words: Vec<&str> = tokens
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        return words.contains(&"test") && !words.contains(&"not");
    }
    false
}

/// `#[derive(...)]` names `name` (also by a path, `confik::Configuration`).
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| {
            a.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
                .is_ok_and(|paths| {
                    paths
                        .iter()
                        .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
                })
        })
}

fn skip(attrs: &[Attribute]) -> bool {
    attrs.iter().any(is_test_attr)
}

fn path_string(p: &syn::Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// An env var name: upper case, digits and `_`.
fn env_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The value of a simple expression: literals, consts, conversions, a block's last expression.
pub fn eval(e: &Expr) -> Option<Val> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Some(Val::Str(s.value())),
            Lit::Int(i) => i.base10_parse().ok().map(Val::Int),
            _ => None,
        },
        Expr::Path(p) => {
            let last = p.path.segments.last()?.ident.to_string();
            if let Some(ip) = ip_const(&p.path) {
                return Some(Val::Str(ip.into()));
            }
            (last.chars().next()?.is_ascii_uppercase() && env_name(&last))
                .then_some(Val::Const(last))
        }
        // `[0, 0, 0, 0]` as in `IpAddr::from([0, 0, 0, 0])`.
        Expr::Array(a) if a.elems.len() == 4 => {
            let octets: Option<Vec<String>> = a
                .elems
                .iter()
                .map(|e| match eval(e)? {
                    Val::Int(i) if (0..=255).contains(&i) => Some(i.to_string()),
                    _ => None,
                })
                .collect();
            Some(Val::Str(octets?.join(".")))
        }
        Expr::Paren(p) => eval(&p.expr),
        Expr::Group(g) => eval(&g.expr),
        Expr::Reference(r) => eval(&r.expr),
        Expr::Cast(c) => eval(&c.expr),
        Expr::Block(b) => match b.block.stmts.last()? {
            syn::Stmt::Expr(e, None) => eval(e),
            _ => None,
        },
        Expr::Closure(c) => eval(&c.body),
        Expr::MethodCall(m)
            if matches!(
                m.method.to_string().as_str(),
                "to_string" | "to_owned" | "into" | "parse" | "unwrap" | "clone"
            ) =>
        {
            eval(&m.receiver)
        }
        Expr::Call(c) => {
            let Expr::Path(f) = &*c.func else { return None };
            let name = path_string(&f.path);
            match c.args.len() {
                0 => Some(Val::Const(format!("{}()", f.path.segments.last()?.ident))),
                1 if name.ends_with("from")
                    || name.ends_with("new")
                    || name.ends_with("V4")
                    || name.ends_with("V6")
                    || name == "Some" =>
                {
                    eval(&c.args[0])
                }
                // `Ipv4Addr::new(0, 0, 0, 0)`.
                4 if name.ends_with("Ipv4Addr::new") => {
                    let octets = c.args.iter();
                    let array: Expr = syn::parse_quote!([#(#octets),*]);
                    eval(&array)
                }
                _ => None,
            }
        }
        Expr::Macro(m) if m.mac.path.is_ident("format") => {
            let args = m
                .mac
                .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
                .ok()?;
            match args.first() {
                Some(first) if args.len() == 1 => eval(first),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Where an address string sends the server (see [`crate::model::split_host`]); a bare host
/// is not an address here.
pub fn split_addr(s: &str) -> Option<(String, Option<u16>)> {
    if !s.contains(':') || ["::", "::1"].contains(&s) {
        return None;
    }
    crate::model::split_host(s)
}

/// A URL to a loopback host (`http://localhost:8080`): a service the app calls, or its own public
/// address for links, never where it listens (a listen address is bare, or a URL to all
/// interfaces).
fn is_loopback_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(_, rest)| {
        ["localhost:", "127.0.0.1:", "[::1]:"]
            .iter()
            .any(|h| rest.starts_with(h))
    })
}

/// The value of smart-default's `#[default(8536)]` or `#[default = 8536]` (`SmartDefault`).
fn smart_default(a: &syn::Attribute) -> Option<Val> {
    if !a.path().is_ident("default") {
        return None;
    }
    let value = match &a.meta {
        syn::Meta::List(_) => a.parse_args::<Expr>().ok()?,
        syn::Meta::NameValue(nv) => nv.value.clone(),
        syn::Meta::Path(_) => return None,
    };
    eval(&value)
}

/// `Ipv4Addr::UNSPECIFIED`, `Ipv6Addr::LOCALHOST` and the like, as addresses.
fn ip_const(path: &syn::Path) -> Option<&'static str> {
    let n = path.segments.len();
    let (ty, name) = (
        &path.segments.get(n.checked_sub(2)?)?.ident,
        &path.segments[n - 1].ident,
    );
    Some(match (ty.to_string().as_str(), name.to_string().as_str()) {
        ("Ipv4Addr", "UNSPECIFIED") => "0.0.0.0",
        ("Ipv4Addr", "LOCALHOST") => "127.0.0.1",
        ("Ipv6Addr", "UNSPECIFIED") => "::",
        ("Ipv6Addr", "LOCALHOST") => "::1",
        _ => return None,
    })
}

/// A `default = ...` of `#[builder]` or `#[serde]`: a value, or the name of a function
/// returning it (resolved like a const, as `name()`).
fn field_default(value: &Expr) -> Option<Val> {
    match eval(value) {
        Some(Val::Str(f))
            if f.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
                && !f.chars().all(|c| c.is_ascii_digit()) =>
        {
            Some(Val::Const(format!(
                "{}()",
                f.rsplit("::").next().unwrap_or(&f)
            )))
        }
        other => other,
    }
}

/// The words of a CamelCase name, upper-cased: `SmtpOptions` -> `SMTP`, `OPTIONS`.
fn camel_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in name.chars() {
        if c.is_uppercase() || words.is_empty() {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.extend(c.to_uppercase());
        }
    }
    words
}

/// A field or key that holds this server's own listen port (`port`, `http_port`), not another
/// service's or a range bound (`ldap_port`, `min_port`, `metrics_port`).
fn is_listen_port_field(name: &str) -> bool {
    matches!(
        name,
        "port"
            | "http_port"
            | "listen_port"
            | "server_port"
            | "web_port"
            | "api_port"
            | "bind_port"
    )
}

/// A field that holds this server's own listen address (`listen`, `bind_addr`, `host`), not
/// another service's or the target of a client (`redis_host`, `local_host`, `upstream_addr`).
fn is_listen_address_field(name: &str) -> bool {
    let upper = name.to_uppercase();
    let words: Vec<&str> = upper.split('_').collect();
    (crate::model::is_addr_env(&upper) || words.iter().any(|w| ["IP", "INTERFACE"].contains(w)))
        && !words.iter().any(|w| {
            crate::model::is_other_service_word(w)
                || [
                    "LOCAL", "REMOTE", "TARGET", "UPSTREAM", "PEER", "CONNECT", "TO",
                ]
                .contains(w)
        })
}

/// A loopback or any-address host as an array `[127, 0, 0, 1]` or `Ipv4Addr::LOCALHOST`.
fn host_of(e: &Expr) -> Option<String> {
    match e {
        Expr::Array(a) if a.elems.len() == 4 => {
            let v: Vec<Option<Val>> = a.elems.iter().map(eval).collect();
            match v.as_slice() {
                [Some(Val::Int(0)), Some(Val::Int(0)), Some(Val::Int(0)), Some(Val::Int(0))] => {
                    Some("0.0.0.0".into())
                }
                [Some(Val::Int(127)), Some(Val::Int(0)), Some(Val::Int(0)), Some(Val::Int(1))] => {
                    Some("127.0.0.1".into())
                }
                _ => None,
            }
        }
        Expr::Path(p) => match p.path.segments.last()?.ident.to_string().as_str() {
            "UNSPECIFIED" => Some("0.0.0.0".into()),
            "LOCALHOST" => Some("127.0.0.1".into()),
            _ => None,
        },
        Expr::Call(c) => c.args.first().and_then(host_of),
        Expr::Lit(_) => match eval(e)? {
            Val::Str(s)
                if ["0.0.0.0", "127.0.0.1", "localhost", "::", "::1"].contains(&s.as_str()) =>
            {
                Some(s)
            }
            _ => None,
        },
        _ => None,
    }
}

/// One step of a method chain.
enum Step<'a> {
    Method(&'a syn::ExprMethodCall),
    Try,
}

/// An env read call: `env::var("X")`, `var_os`, `dotenvy::var`, or a helper named like one
/// (`var_parsed("X")`, `env_or("X", 8080)`): the name, a default given as second argument.
fn env_call(e: &Expr) -> Option<(Val, Option<Val>, usize, usize)> {
    let Expr::Call(c) = e else { return None };
    env_call_parts(c)
}

fn env_call_parts(c: &syn::ExprCall) -> Option<(Val, Option<Val>, usize, usize)> {
    let Expr::Path(f) = &*c.func else { return None };
    let last = f.path.segments.last()?.ident.to_string().to_lowercase();
    if !(last.contains("var") || last.contains("env")) || c.args.is_empty() || c.args.len() > 2 {
        return None;
    }
    let name = match eval(&c.args[0])? {
        Val::Str(s) if env_name(&s) => Val::Str(s),
        Val::Const(k) if !k.ends_with("()") => Val::Const(k),
        _ => return None,
    };
    let default = c.args.get(1).and_then(eval);
    let start = c.func.span_start();
    Some((name, default, start.0, start.1))
}

trait SpanStart {
    fn span_start(&self) -> (usize, usize);
}

impl<T: syn::spanned::Spanned> SpanStart for T {
    fn span_start(&self) -> (usize, usize) {
        let s = self.span().start();
        (s.line, s.column)
    }
}

impl Scan {
    /// [`eval`], and a local of the function bound to a literal.
    fn value(&self, e: &Expr) -> Option<Val> {
        eval(e).or_else(|| match e {
            Expr::Path(p) => self.locals.get(&p.path.get_ident()?.to_string()).cloned(),
            Expr::Reference(r) => self.value(&r.expr),
            _ => None,
        })
    }

    /// `format!("127.0.0.1:{}", port)` / `format!("127.0.0.1:{port}")`: the port of a format
    /// string naming a host, from a literal argument or local.
    fn format_addr(&mut self, args: &Punctuated<Expr, Token![,]>) {
        let Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(f), ..
        })) = args.first()
        else {
            return;
        };
        let text = f.value();
        let Some((host, None)) = split_addr(&text) else {
            return;
        };
        let placeholder = text.rsplit_once(':').map_or("", |(_, p)| p);
        let name = placeholder.trim_matches(['{', '}']);
        let port = if name.is_empty() {
            args.iter().nth(1).and_then(|e| self.value(e))
        } else {
            self.locals.get(name).cloned()
        };
        if let Some(port) = port {
            self.port(Some(port), Some(host), line(f.span()), PortKind::Literal);
            self.literal_done = true;
        }
    }

    fn push_unique(list: &mut Vec<String>, v: &str) {
        if !list.iter().any(|x| x == v) {
            list.push(v.to_string());
        }
    }

    fn port(&mut self, port: Option<Val>, host: Option<String>, line: usize, kind: PortKind) {
        self.out.ports.push(RawPort {
            port,
            host,
            line,
            kind,
        });
    }

    /// A method chain ending in an env read: its default and whether it is required.
    fn env_chain(&mut self, outer: &Expr) {
        let mut steps = Vec::new();
        let mut e = outer;
        loop {
            match e {
                Expr::MethodCall(m) => {
                    steps.push(Step::Method(m));
                    e = &m.receiver;
                }
                Expr::Try(t) => {
                    steps.push(Step::Try);
                    e = &t.expr;
                }
                Expr::Await(a) => e = &a.base,
                Expr::Paren(p) => e = &p.expr,
                _ => break,
            }
        }
        let Some((name, mut default, l, c)) = env_call(e) else {
            return;
        };
        if !self.seen_env.insert((l, c)) {
            return;
        }
        let mut required = false;
        for step in steps.iter().rev() {
            match step {
                Step::Try => required = true,
                Step::Method(m) => match m.method.to_string().as_str() {
                    "unwrap" | "expect" => required = true,
                    "unwrap_or" | "unwrap_or_else" | "or" | "or_else" | "map_or"
                        if default.is_none() =>
                    {
                        default = m.args.first().and_then(eval);
                        if default.is_none() {
                            default = Some(Val::Str(String::new()));
                        }
                    }
                    "unwrap_or_default" if default.is_none() => {
                        default = Some(Val::Str(String::new()))
                    }
                    _ => {}
                },
            }
        }
        if default.is_some() {
            required = false;
        }
        if default == Some(Val::Str(String::new())) {
            default = None;
            required = false;
        }
        self.out.env.push(RawEnv {
            name,
            default,
            required,
            line: l,
            port_field: false,
        });
    }

    /// A clap flag of the listen address whose default is loopback (no env var sets it).
    fn listen_flag(&mut self, field: &str, long: &str, default: &str, (ty, line): (&str, usize)) {
        let loopback = crate::model::split_host(default)
            .is_some_and(|(h, _)| matches!(h.as_str(), "127.0.0.1" | "localhost" | "::1"));
        if loopback && is_listen_address_field(field) {
            self.out.listen_flags.push(RawListenFlag {
                flag: format!("--{long}"),
                default: default.to_string(),
                ty: ty.replace(' ', ""),
                line,
            });
        }
    }

    /// A confik `#[derive(Configuration)]` struct read through its `EnvSource`: each field of a
    /// plain type is the env var of its name in upper case (`server_addr` is `SERVER_ADDR`),
    /// required unless it is an `Option` or has `#[confik(default ...)]`. Fields of other
    /// structs nest under `NAME__`, which this does not follow.
    fn confik_fields(&mut self, s: &syn::ItemStruct) {
        const PLAIN: &[&str] = &[
            "String",
            "str",
            "u8",
            "u16",
            "u32",
            "u64",
            "usize",
            "i32",
            "i64",
            "bool",
            "f64",
            "SocketAddr",
            "IpAddr",
            "PathBuf",
            "Url",
        ];
        for f in &s.fields {
            let Some(ident) = &f.ident else { continue };
            let ty = f.ty.to_token_stream().to_string().replace(' ', "");
            let optional = ty.starts_with("Option<");
            let inner = ty
                .trim_start_matches("Option<")
                .trim_end_matches('>')
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .to_string();
            if !PLAIN.contains(&inner.as_str()) {
                continue;
            }
            let mut default = None;
            let mut has_default = false;
            for a in f.attrs.iter().filter(|a| a.path().is_ident("confik")) {
                let _ = a.parse_nested_meta(|meta| {
                    if meta.path.is_ident("default") {
                        has_default = true;
                        if meta.input.peek(Token![=]) {
                            let e: Expr = meta.value()?.parse()?;
                            default = eval(&e);
                        }
                    } else if meta.input.peek(Token![=]) {
                        let _: Expr = meta.value()?.parse()?;
                    }
                    Ok(())
                });
            }
            self.out.env.push(RawEnv {
                name: Val::Str(ident.to_string().to_uppercase()),
                default,
                required: !optional && !has_default,
                line: line(ident.span()),
                port_field: false,
            });
        }
    }

    /// A clap field: `#[arg(long, default_value = "N", env = "X")]` and friends.
    fn clap_field(&mut self, f: &syn::Field) {
        let Some(ident) = &f.ident else { return };
        let field = ident.to_string();
        let mut env: Option<Val> = None;
        let attrs = super::cfg::active(&f.attrs);
        let mut default: Option<Val> = attrs.iter().find_map(smart_default);
        let mut long: Option<String> = None;
        let mut is_arg = false;
        for a in &attrs {
            let p = a.path();
            let clap = p.is_ident("arg") || p.is_ident("clap") || p.is_ident("structopt");
            if !(clap || p.is_ident("builder") || p.is_ident("serde")) {
                continue;
            }
            is_arg |= clap;
            let _ = a.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(|i| i.to_string());
                if meta.input.peek(Token![=]) {
                    let value: Expr = meta.value()?.parse()?;
                    match key.as_deref() {
                        Some("env") => env = eval(&value),
                        Some("long") => {
                            if let Some(Val::Str(l)) = eval(&value) {
                                long = Some(l);
                            }
                        }
                        Some("default_value" | "default_value_t" | "default_missing_value") => {
                            default = eval(&value)
                        }
                        // `#[builder(default = "17170")]`, `#[serde(default = "default_port")]`.
                        Some("default") => default = field_default(&value),
                        _ => {}
                    }
                } else if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: proc_macro2::TokenStream = content.parse()?;
                } else if key.as_deref() == Some("env") {
                    env = Some(Val::Str(field.to_uppercase()));
                } else if key.as_deref() == Some("long") && clap {
                    long = Some(field.replace('_', "-"));
                }
                Ok(())
            });
        }
        let line = line(ident.span());
        let port_field = is_listen_port_field(&field);
        if !is_arg {
            if let (true, Some(d)) = (port_field, default) {
                self.port(Some(d), None, line, PortKind::CodeDefault);
            }
            return;
        }
        let ty = f.ty.to_token_stream().to_string();
        let optional = ty.starts_with("Option") || ty == "bool" || ty.starts_with("Vec");
        if let Some(name) = env.clone() {
            self.out.env.push(RawEnv {
                name,
                default: default.clone(),
                required: default.is_none() && !optional,
                line,
                port_field,
            });
        } else if port_field {
            if let Some(d) = default.clone() {
                self.port(Some(d), None, line, PortKind::CodeDefault);
            }
        }
        if let (None, Some(flag), Some(Val::Str(d))) = (&env, &long, &default) {
            self.listen_flag(&field, flag, d, (&ty, line));
        }
        if let (None, Some(Val::Str(s))) = (&env, &default) {
            if let Some((host, port)) = split_addr(s) {
                self.port(
                    port.map(|p| Val::Int(p.into())),
                    Some(host),
                    line,
                    PortKind::CodeDefault,
                );
            }
        }
    }

    /// Signal handling named inside a macro that is not a list of expressions (`tokio::select!`).
    fn macro_idents(&mut self, tokens: proc_macro2::TokenStream) {
        for t in tokens {
            match t {
                proc_macro2::TokenTree::Ident(i) => match i.to_string().as_str() {
                    "ctrl_c" | "SIGINT" | "interrupt" => self.out.signals.sigint = true,
                    "SIGTERM" | "terminate" => self.out.signals.sigterm = true,
                    _ => {}
                },
                proc_macro2::TokenTree::Group(g) => self.macro_idents(g.stream()),
                _ => {}
            }
        }
    }

    fn literal(&mut self, s: &str, line: usize) {
        if s.starts_with("HTTP/1.") {
            Self::push_unique(&mut self.out.listeners, "http");
        }
        if std::mem::take(&mut self.literal_done) {
            return;
        }
        if let Some((host, port)) = split_addr(s).filter(|_| !is_loopback_url(s)) {
            let port = port.map(|p| Val::Int(p.into()));
            self.port(port, Some(host), line, PortKind::Literal);
        }
        if crate::model::is_health_path(s) {
            Self::push_unique(&mut self.out.health_paths, s);
        }
        let first = s.trim_start_matches("./").split('/').next().unwrap_or("");
        if let Some(d) = RUNTIME_DIR_CANDIDATES.iter().find(|d| **d == first) {
            if self.compile_time > 0 {
                Self::push_unique(&mut self.out.compile_time_dirs, d);
            } else {
                Self::push_unique(&mut self.out.runtime_dirs, d);
            }
        }
    }

    fn krate(&mut self, name: &str, line: usize) {
        if crate::frameworks::by_crate(name).is_some()
            && !self.out.crates.iter().any(|(c, _)| c == name)
        {
            self.out.crates.push((name.to_string(), line));
        }
    }

    /// Route attributes (`#[get("/alive")]`), embedding attributes (`#[folder = "static/"]`)
    /// and entry attributes (`#[launch]`, `#[shuttle_runtime::main]`).
    fn attribute(&mut self, a: &Attribute) {
        let path = path_string(a.path());
        let last = a
            .path()
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if let Some(first) = a.path().segments.first() {
            self.krate(&first.ident.to_string(), line(first.ident.span()));
        }
        match last.as_str() {
            "launch" => self.out.server = true,
            "main" if path.starts_with("shuttle") => {
                self.out.server = true;
                self.out
                    .foreign_main
                    .get_or_insert(line(a.pound_token.span));
            }
            "get" | "head" | "route" | "oai" | "handler" | "endpoint" => {
                for lit in string_lits(a.meta.to_token_stream()) {
                    if crate::model::is_health_path(&lit) {
                        Self::push_unique(&mut self.out.health_paths, &lit);
                    }
                }
            }
            "folder" | "template" | "include_dir" | "embed" => {
                self.compile_time += 1;
                for lit in string_lits(a.meta.to_token_stream()) {
                    self.literal(&lit, line(a.pound_token.span));
                }
                self.compile_time -= 1;
            }
            _ => {}
        }
    }
}

/// String literals anywhere in a token stream.
fn string_lits(tokens: proc_macro2::TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            proc_macro2::TokenTree::Literal(l) => {
                if let Ok(Lit::Str(s)) = syn::parse2::<Lit>(l.into_token_stream()) {
                    out.push(s.value());
                }
            }
            proc_macro2::TokenTree::Group(g) => out.extend(string_lits(g.stream())),
            _ => {}
        }
    }
    out
}

impl<'ast> Visit<'ast> for Scan {
    fn visit_attribute(&mut self, a: &'ast Attribute) {
        self.attribute(a);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if skip(&f.attrs) {
            return;
        }
        self.locals.clear();
        if f.sig.inputs.is_empty() {
            if let Some(syn::Stmt::Expr(e, None)) = f.block.stmts.last() {
                if let Some(v) = eval(e) {
                    self.out.consts.push((format!("{}()", f.sig.ident), v));
                }
            }
        }
        visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if skip(&f.attrs) {
            return;
        }
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if skip(&i.attrs) {
            return;
        }
        visit::visit_item_impl(self, i);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let name = m.ident.to_string();
        if skip(&m.attrs) || name == "tests" {
            return;
        }
        match &m.content {
            None => {
                let at = m
                    .attrs
                    .iter()
                    .find(|a| a.path().is_ident("path"))
                    .and_then(|a| match &a.meta {
                        syn::Meta::NameValue(nv) => match eval(&nv.value) {
                            Some(Val::Str(s)) => Some(s),
                            _ => None,
                        },
                        _ => None,
                    });
                let mut rel = self.mod_stack.join("/");
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(name.trim_start_matches("r#"));
                self.out.mods.push((rel, at));
            }
            Some(_) => {
                self.mod_stack.push(name);
                visit::visit_item_mod(self, m);
                self.mod_stack.pop();
            }
        }
    }

    fn visit_item_const(&mut self, c: &'ast syn::ItemConst) {
        if skip(&c.attrs) {
            return;
        }
        if let Some(v) = eval(&c.expr) {
            self.out.consts.push((c.ident.to_string(), v));
        }
        visit::visit_item_const(self, c);
    }

    fn visit_item_static(&mut self, c: &'ast syn::ItemStatic) {
        if skip(&c.attrs) {
            return;
        }
        if let Some(v) = eval(&c.expr) {
            self.out.consts.push((c.ident.to_string(), v));
        }
        visit::visit_item_static(self, c);
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        if skip(&s.attrs) {
            return;
        }
        let ports_before = self.out.ports.len();
        for f in &s.fields {
            self.clap_field(f);
        }
        if derives(&s.attrs, "Configuration") {
            self.confik_fields(s);
        }
        if camel_words(&s.ident.to_string())
            .iter()
            .any(|w| crate::model::is_other_service_word(w))
        {
            self.out.ports.truncate(ports_before);
        }
        visit::visit_item_struct(self, s);
    }

    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        if skip(&e.attrs) {
            return;
        }
        for v in &e.variants {
            for f in &v.fields {
                self.clap_field(f);
            }
        }
        visit::visit_item_enum(self, e);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if skip(&u.attrs) {
            return;
        }
        let mut tree = &u.tree;
        loop {
            match tree {
                syn::UseTree::Path(p) => {
                    let name = p.ident.to_string();
                    if name != "crate" && name != "self" && name != "super" {
                        self.krate(&name, line(p.ident.span()));
                        break;
                    }
                    tree = &p.tree;
                }
                syn::UseTree::Name(n) => {
                    self.krate(&n.ident.to_string(), line(n.ident.span()));
                    break;
                }
                _ => break,
            }
        }
    }

    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        self.krate(&e.ident.to_string(), line(e.ident.span()));
    }

    fn visit_stmt(&mut self, s: &'ast syn::Stmt) {
        if let syn::Stmt::Local(l) = s {
            if skip(&l.attrs) {
                return;
            }
            let name = match &l.pat {
                syn::Pat::Ident(i) => Some(i.ident.to_string()),
                syn::Pat::Type(t) => match &*t.pat {
                    syn::Pat::Ident(i) => Some(i.ident.to_string()),
                    _ => None,
                },
                _ => None,
            };
            if let (Some(name), Some(init)) = (name, &l.init) {
                match eval(&init.expr) {
                    Some(v) => self.locals.insert(name, v),
                    None => self.locals.remove(&name),
                };
            }
        }
        visit::visit_stmt(self, s);
    }

    fn visit_lit_byte_str(&mut self, s: &'ast syn::LitByteStr) {
        if s.value().starts_with(b"HTTP/1.") {
            Self::push_unique(&mut self.out.listeners, "http");
        }
    }

    fn visit_expr(&mut self, e: &'ast Expr) {
        if let Expr::MethodCall(_) | Expr::Try(_) = e {
            self.env_chain(e);
        }
        visit::visit_expr(self, e);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let Some((name, default, l, col)) = env_call_parts(c) {
            if self.seen_env.insert((l, col)) {
                self.out.env.push(RawEnv {
                    name,
                    default,
                    required: false,
                    line: l,
                    port_field: false,
                });
            }
        }
        if let Expr::Path(f) = &*c.func {
            let p = path_string(&f.path);
            let l = line(f.path.segments[0].ident.span());
            let ends = |s: &str| p == s || p.ends_with(&format!("::{s}"));
            if ends("TcpListener::bind") || ends("TcpListener::new") {
                self.out.server = true;
                Self::push_unique(&mut self.out.listeners, "tcp");
            }
            if ends("UdpSocket::bind") {
                self.out.server = true;
                Self::push_unique(&mut self.out.listeners, "udp");
            }
            if [
                "axum::serve",
                "HttpServer::new",
                "warp::serve",
                "rocket::build",
                "rocket::custom",
                "rocket::ignite",
                "Server::bind",
                "Server::builder",
                "Server::new",
                "Server::http",
                "Server::try_bind",
                "serve",
            ]
            .iter()
            .any(|s| ends(s))
                && (p.contains("::") || p == "serve")
            {
                self.out.server = true;
            }
            if ["ctrl_c", "ctrlc::set_handler", "set_handler"]
                .iter()
                .any(|s| ends(s))
            {
                self.out.signals.sigint = true;
            }
            if ends("HttpServer::new") {
                self.krate("actix_web", l);
            }
            if ends("Environment::default")
                || ends("Environment::new")
                || ends("Environment::with_prefix")
            {
                let env = self.out.config_env.get_or_insert_with(ConfigEnv::default);
                env.line = l;
                if ends("Environment::with_prefix") {
                    if let Some(Val::Str(p)) = c.args.first().and_then(eval) {
                        env.prefix = Some(p);
                    }
                }
            }
            if ends("with_prefix") || ends("prefixed") {
                if let Some(Val::Str(prefix)) = c.args.first().and_then(eval) {
                    self.out.env_prefix.get_or_insert(prefix);
                }
            }
            if ends("SocketAddr::new") || ends("SocketAddr::from") {
                self.addr_args(&c.args, l);
            }
            if ends("bind") {
                self.addr_args(&c.args, l);
            }
        }
        visit::visit_expr_call(self, c);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let name = m.method.to_string();
        let l = line(m.method.span());
        match name.as_str() {
            "bind" | "bind_rustls" | "bind_openssl" | "listen" | "serve_connection" | "run_on" => {
                if name != "listen" {
                    self.out.server = true;
                }
                self.addr_args(&m.args, l);
            }
            "disable_signals" => self.out.signals_disabled = true,
            "separator" | "prefix_separator" | "prefix"
                if m.receiver
                    .to_token_stream()
                    .to_string()
                    .contains("Environment") =>
            {
                if let Some(Val::Str(v)) = m.args.first().and_then(eval) {
                    let env = self.out.config_env.get_or_insert_with(ConfigEnv::default);
                    match name.as_str() {
                        "separator" => env.separator = Some(v),
                        "prefix_separator" => env.prefix_separator = Some(v),
                        _ => env.prefix = Some(v),
                    }
                }
            }
            "with_prefix" | "prefixed" => {
                if let Some(Val::Str(p)) = m.args.first().and_then(eval) {
                    self.out.env_prefix.get_or_insert(p);
                }
            }
            "set_default" | "set_override_option" => {
                if let (Some(Val::Str(k)), Some(v)) = (
                    m.args.first().and_then(eval),
                    m.args.iter().nth(1).and_then(eval),
                ) {
                    let key = k.rsplit('.').next().unwrap_or(&k);
                    let other = k
                        .split(['.', '_'])
                        .any(|part| crate::model::is_other_service_word(&part.to_uppercase()));
                    if is_listen_port_field(key) && !other {
                        self.port(Some(v.clone()), None, l, PortKind::CodeDefault);
                    }
                    if !k.contains('.') {
                        self.out.config_defaults.push((k.clone(), v, l));
                    }
                }
            }
            "unwrap_or" | "unwrap_or_else" => {
                let receiver = m.receiver.to_token_stream().to_string().to_lowercase();
                if let Some(v) = m.args.first().and_then(eval) {
                    let port_name = matches!(&v, Val::Const(k) if k.contains("PORT"));
                    if (port_name || receiver.ends_with("port"))
                        && env_call_in(&m.receiver).is_none()
                    {
                        self.port(Some(v), None, l, PortKind::CodeDefault);
                    }
                }
            }
            _ => {}
        }
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_tuple(&mut self, t: &'ast syn::ExprTuple) {
        if t.elems.len() == 2 {
            if let Some(host) = host_of(&t.elems[0]) {
                if let Some(v) = self.value(&t.elems[1]) {
                    let l = line(t.paren_token.span.open());
                    self.port(Some(v), Some(host), l, PortKind::Literal);
                }
            }
        }
        visit::visit_expr_tuple(self, t);
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        let s = path_string(&p.path);
        if let Some(first) = p.path.segments.first() {
            if p.path.segments.len() > 1 {
                self.krate(&first.ident.to_string(), line(first.ident.span()));
            }
        }
        if s.ends_with("SignalKind::terminate")
            || s.ends_with("SIGTERM")
            || s.ends_with("Signal::Term")
        {
            self.out.signals.sigterm = true;
        }
        if s.ends_with("SignalKind::interrupt") || s.ends_with("SIGINT") || s.ends_with("ctrl_c") {
            self.out.signals.sigint = true;
        }
        visit::visit_expr_path(self, p);
    }

    fn visit_type_path(&mut self, p: &'ast syn::TypePath) {
        if let Some(first) = p.path.segments.first() {
            if p.path.segments.len() > 1 {
                self.krate(&first.ident.to_string(), line(first.ident.span()));
            }
        }
        visit::visit_type_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let name = m
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if let Some(first) = m.path.segments.first() {
            if m.path.segments.len() > 1 {
                self.krate(&first.ident.to_string(), line(first.ident.span()));
            }
        }
        let embeds = matches!(
            name.as_str(),
            "include_str"
                | "include_bytes"
                | "include_dir"
                | "migrate"
                | "embed_migrations"
                | "include_static"
                | "static_dir"
        );
        if name == "migrate" && m.tokens.is_empty() {
            Self::push_unique(&mut self.out.compile_time_dirs, "migrations");
        }
        // `include!("opt.rs")` compiles that file here: read it as a module of this file.
        if name == "include" {
            if let Ok(file) = m.parse_body::<syn::LitStr>() {
                let file = file.value();
                self.out
                    .mods
                    .push((format!("include!({file})"), Some(file)));
            }
        }
        if embeds {
            self.compile_time += 1;
        }
        if let Ok(args) = m.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            self.format_addr(&args);
            for a in &args {
                self.visit_expr(a);
            }
        } else {
            let l = line(m.path.segments[0].ident.span());
            for lit in string_lits(m.tokens.clone()) {
                self.literal(&lit, l);
            }
            self.macro_idents(m.tokens.clone());
        }
        if embeds {
            self.compile_time -= 1;
        }
    }

    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        self.literal(&s.value(), line(s.span()));
    }
}

impl Scan {
    /// Address arguments of a bind call: `("0.0.0.0", 8080)` or `(host, PORT)` as one tuple
    /// argument or two arguments.
    fn addr_args(&mut self, args: &Punctuated<Expr, Token![,]>, l: usize) {
        let pair: Option<(&Expr, &Expr)> = match args.iter().collect::<Vec<_>>().as_slice() {
            [Expr::Tuple(t)] if t.elems.len() == 2 => Some((&t.elems[0], &t.elems[1])),
            [a, b] => Some((a, b)),
            _ => None,
        };
        let Some((h, p)) = pair else { return };
        if host_of(h).is_some() {
            return;
        }
        if let Some(v) = eval(p) {
            if matches!(&v, Val::Int(_)) || matches!(&v, Val::Const(k) if k.contains("PORT")) {
                self.port(Some(v), None, l, PortKind::Literal);
            }
        }
    }
}

/// The env call at the base of a method chain, if any.
fn env_call_in(e: &Expr) -> Option<(Val, Option<Val>, usize, usize)> {
    let mut e = e;
    loop {
        match e {
            Expr::MethodCall(m) => e = &m.receiver,
            Expr::Try(t) => e = &t.expr,
            Expr::Await(a) => e = &a.base,
            Expr::Paren(p) => e = &p.expr,
            _ => return env_call(e),
        }
    }
}

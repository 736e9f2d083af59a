//! A Linux server (`deploy/vm/`): a hardened systemd unit, and for servers a TLS-terminating
//! proxy (Caddy or nginx), from `[vm]` and the image plan.

use super::quote::{systemd_quote, toml_str};
use super::{InitSection, Target, STOP_TIMEOUT_SECS};
use crate::config::{Config, Platform, Proxy, VmConfig};
use crate::plan::{Decision, ImagePlan, Topic};
use crate::template::{self, GeneratedFile};
use anyhow::Result;
use serde::Serialize;

/// Directory of the VM pack (systemd unit and proxy config).
pub const VM_DIR: &str = "deploy/vm";
/// Domain the VM proxy serves when `[vm] domain` is unset: a placeholder to replace.
pub const DEFAULT_DOMAIN: &str = "example.com";

/// Where the server runs the binary from (the unit's `ExecStart`).
pub fn exec_path(bin: &str) -> String {
    format!("/usr/local/bin/{bin}")
}

/// Where the unit is installed on the server.
pub fn unit_path(unit: &str) -> String {
    format!("/etc/systemd/system/{unit}.service")
}

/// The optional file of secrets and overrides the unit reads (`EnvironmentFile`).
pub fn env_file(unit: &str) -> String {
    format!("/etc/{unit}/env")
}

/// Where the proxy reads its generated config on the server.
pub fn proxy_path(proxy: Proxy, unit: &str) -> String {
    match proxy {
        Proxy::Caddy => "/etc/caddy/Caddyfile".into(),
        Proxy::Nginx => format!("/etc/nginx/sites-enabled/{unit}.conf"),
    }
}

/// The VM pack: a hardened systemd unit, and for servers a TLS-terminating proxy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VmPlan {
    /// The unit's name without `.service`.
    pub unit: String,
    /// Where run-time files live and the app runs (None when it reads none).
    pub work_dir: Option<String>,
    /// The proxy in front of the app (None for a program that serves nothing).
    pub proxy: Option<Proxy>,
    /// Domain the proxy serves and gets a certificate for.
    pub domain: String,
    /// True when `domain` is imggen's placeholder.
    pub domain_placeholder: bool,
    /// `[vm] static_dir`, else the detected frontend output the app serves: the built frontend
    /// in the project, served by the proxy.
    pub static_dir: Option<String>,
    /// Where the proxy reads that frontend on the server.
    pub static_root: String,
    /// What was decided and why, for `imggen plan`.
    pub decisions: Vec<Decision>,
}

/// What `templates/vm.service.tera`, `Caddyfile.tera` and `nginx.conf.tera` print.
#[derive(Serialize)]
struct VmValues {
    unit: String,
    /// Where the binary is installed on the server.
    exec_path: String,
    unit_path: String,
    env_file: String,
    proxy_path: String,
    work_dir: Option<String>,
    runtime_dirs: String,
    env: Vec<String>,
    /// ExecStart: the binary and its arguments, each quoted for systemd.
    exec_start: String,
    /// The example environment file's name, when the app has variables to list.
    env_example: Option<String>,
    /// One entry per variable for the example environment file.
    vars: Vec<ExampleVar>,
    stop_timeout: u32,
    domain: String,
    domain_placeholder: bool,
    static_dir: Option<String>,
    static_root: String,
    upstream: String,
}

/// A variable in the example environment file: what it is, and its line.
#[derive(Serialize)]
struct ExampleVar {
    about: String,
    line: String,
}

/// One systemd command-line word: as is when plain, else quoted with `%` and `$` doubled so
/// neither is expanded.
fn exec_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-._=:,+@".contains(c))
    {
        s.to_string()
    } else {
        systemd_quote(s).replace('$', "$$")
    }
}

/// The example environment file's entries: every variable, commented out, with what it is.
fn example_vars(image: &ImagePlan) -> Vec<ExampleVar> {
    let one_line = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    image
        .vars
        .iter()
        .map(|v| {
            let what = match (&v.value, v.secret, v.required) {
                (_, true, true) => "secret, required".to_string(),
                (_, true, false) => "secret".to_string(),
                (Some(val), _, _) => format!("{val:?}, set by the unit"),
                (None, false, true) => "required, no default".to_string(),
                (None, false, false) => "optional".to_string(),
            };
            ExampleVar {
                about: one_line(&format!("{}: {what} ({})", v.name, v.from)),
                line: one_line(&format!(
                    "{}={}",
                    v.name,
                    v.value.as_deref().filter(|_| !v.secret).unwrap_or_default()
                )),
            }
        })
        .collect()
}

impl Target for VmPlan {
    fn platform() -> Platform {
        Platform::Vm
    }

    fn decide(image: &ImagePlan, config: &Config, name: &str) -> Result<(Self, Vec<String>)> {
        let c = config.vm.clone().unwrap_or_default();
        let mut decisions = Vec::new();
        decisions.push(Decision::new(
            Topic::Unit,
            format!("{name}.service"),
            "hardened systemd unit: dynamic user, read-only system, system call filter",
        ));
        let work_dir = (!image.runtime_dirs.is_empty()).then(|| format!("/opt/{name}"));
        if let Some(w) = &work_dir {
            decisions.push(Decision::new(
                Topic::WorkingDirectory,
                w,
                "the app reads run-time files relative to it: copy them there",
            ));
        }
        let (domain, placeholder) = domain(&c);
        let proxy = proxy(image, &c, &domain, placeholder, &mut decisions);
        let static_root = format!("/var/www/{name}");
        // A frontend the app serves from disk is served by the proxy on a VM; an embedded one
        // is in the binary.
        let detected = image
            .frontend
            .as_ref()
            .filter(|f| !f.embedded)
            .map(|f| f.project_output.clone());
        let from_config = c.static_dir.is_some();
        let static_dir = c.static_dir.or(detected);
        if let (Some(dir), Some(_)) = (&static_dir, proxy) {
            decisions.push(Decision::new(
                Topic::StaticFiles,
                format!("{dir} -> {static_root}"),
                if from_config {
                    "imggen.toml [vm] static_dir: served by the proxy with the index.html fallback; /api/ goes to the app"
                } else {
                    "the frontend's build output the app serves: served by the proxy with the index.html fallback; /api/ goes to the app"
                },
            ));
        }
        let mut warnings = Vec::new();
        if let Some(d) = &image.served_dir {
            warnings.push(format!(
                "the unit passes the directory to serve {d}, which the image creates but a server does not have; create it on the server or set `args` in imggen.toml"
            ));
        }
        if placeholder && proxy.is_some() {
            warnings.push(format!(
                "{VM_DIR}/{} serves the placeholder domain {DEFAULT_DOMAIN}; set [vm] domain before deploying",
                proxy_file(proxy.unwrap_or_default())
            ));
        }
        let plan = VmPlan {
            unit: name.to_string(),
            work_dir,
            proxy,
            domain,
            domain_placeholder: placeholder,
            static_dir,
            static_root,
            decisions,
        };
        Ok((plan, warnings))
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn files(&self, image: &ImagePlan) -> Result<Vec<GeneratedFile>> {
        let mut env: Vec<String> = image
            .env
            .iter()
            .map(|(k, v)| systemd_quote(&format!("{k}={v}")))
            .collect();
        if image.server {
            env.push(systemd_quote(&format!("PORT={}", image.port)));
        }
        let runtime_dirs: Vec<String> = image
            .runtime_dirs
            .iter()
            .map(|d| d.from.rsplit('/').next().unwrap_or(&d.from).to_string())
            .collect();
        let mut exec = vec![exec_word(&exec_path(&image.bin))];
        exec.extend(image.args.iter().map(|a| exec_word(a)));
        let env_example = (!image.vars.is_empty()).then(|| format!("{}.env.example", self.unit));
        let v = VmValues {
            exec_start: exec.join(" "),
            env_example: env_example.clone(),
            vars: example_vars(image),
            unit: self.unit.clone(),
            exec_path: exec_path(&image.bin),
            unit_path: unit_path(&self.unit),
            env_file: env_file(&self.unit),
            proxy_path: proxy_path(self.proxy.unwrap_or_default(), &self.unit),
            work_dir: self.work_dir.clone(),
            runtime_dirs: runtime_dirs.join(", "),
            env,
            stop_timeout: STOP_TIMEOUT_SECS,
            domain: self.domain.clone(),
            domain_placeholder: self.domain_placeholder,
            static_dir: self.static_dir.clone(),
            static_root: self.static_root.clone(),
            upstream: format!("127.0.0.1:{}", image.port),
        };
        let mut files = vec![GeneratedFile {
            path: format!("{VM_DIR}/{}.service", self.unit),
            contents: template::render("vm.service", image, &v)?,
        }];
        if let Some(example) = &env_example {
            files.push(GeneratedFile {
                path: format!("{VM_DIR}/{example}"),
                contents: template::render("vm.env.example", image, &v)?,
            });
        }
        if let Some(p) = self.proxy {
            files.push(GeneratedFile {
                path: format!("{VM_DIR}/{}", proxy_file(p)),
                contents: template::render(proxy_file(p), image, &v)?,
            });
        }
        Ok(files)
    }

    fn init_section(&self) -> InitSection {
        let v = self;
        InitSection {
            title: "A Linux server (deploy/vm/): systemd unit and TLS proxy. Uncomment a key to change it.",
            table: "vm",
            keys: vec![
                ("domain", toml_str(&v.domain), "Domain the proxy serves and gets a certificate for."),
                ("proxy", toml_str(proxy_name(v.proxy.unwrap_or_default())), "\"caddy\" (automatic HTTPS) or \"nginx\" (with certbot)."),
                ("static_dir", toml_str(v.static_dir.as_deref().unwrap_or("frontend/dist")), "Built single-page frontend the proxy serves, /api/ going to the app (default: none)."),
            ],
        }
    }
}

/// `[vm] domain` (else the placeholder), and whether it is the placeholder. `validate` has
/// checked `domain` and `static_dir` before any plan is made.
fn domain(c: &VmConfig) -> (String, bool) {
    let domain = c.domain.clone().unwrap_or_else(|| DEFAULT_DOMAIN.into());
    let placeholder = domain == DEFAULT_DOMAIN;
    (domain, placeholder)
}

/// The proxy in front of a server (None for a program that serves nothing).
fn proxy(
    image: &ImagePlan,
    c: &VmConfig,
    domain: &str,
    placeholder: bool,
    decisions: &mut Vec<Decision>,
) -> Option<Proxy> {
    let proxy = image.server.then(|| c.proxy.unwrap_or_default());
    match proxy {
        Some(p) => {
            decisions.push(Decision::new(
                Topic::Proxy,
                format!("{} for {domain}", proxy_name(p)),
                format!(
                    "{}; terminates TLS and forwards to 127.0.0.1:{}",
                    if c.proxy.is_some() {
                        "imggen.toml [vm] proxy"
                    } else {
                        "imggen's default, automatic HTTPS"
                    },
                    image.port
                ),
            ));
            if placeholder {
                decisions.push(Decision::new(
                    Topic::Domain,
                    domain,
                    "placeholder: set [vm] domain",
                ));
            }
        }
        None => decisions.push(Decision::new(
            Topic::Proxy,
            "none",
            "the binary serves nothing, so only the unit is written",
        )),
    }
    proxy
}

fn proxy_name(p: Proxy) -> &'static str {
    match p {
        Proxy::Caddy => "caddy",
        Proxy::Nginx => "nginx",
    }
}

/// The proxy config's file name in the VM pack.
pub fn proxy_file(p: Proxy) -> &'static str {
    match p {
        Proxy::Caddy => "Caddyfile",
        Proxy::Nginx => "nginx.conf",
    }
}

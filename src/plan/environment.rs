//! The app's environment: every variable its code reads (`SourceFacts.env`) and every `[env]`
//! value, each with its value (never a secret's), whether it is required or secret, and where
//! it comes from. Platform files declare the variables from this one list.

use super::{Notes, Planned, Topic};
use crate::config::Config;
use crate::model::SourceFacts;
use crate::validate::is_secret_env;
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// One variable of the app's environment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvVar {
    pub name: String,
    /// The value the image and platform files set (`[env]`, else the code's default); `None`
    /// for a secret, whose value no generated file ever holds.
    pub value: Option<String>,
    /// The app fails without it and no value is known: someone must set it.
    pub required: bool,
    /// It looks like a credential: declared by name only (platform secrets).
    pub secret: bool,
    /// `file:line` of the read, or [`CONFIGURED`].
    pub from: String,
}

/// `EnvVar::from` of an `[env]` value: the same whichever layer set it, so generated files do
/// not change when `init` moves a flag into imggen.toml.
const CONFIGURED: &str = "the `env` setting";

/// Variable values by name.
type Values = BTreeMap<String, String>;

/// The environment of the image and the platform files: `RUST_LOG`, `[env]`, and the code's
/// reads (values only for non-secret defaults); `[env]` may not set PORT, K_* or a credential.
pub(super) fn environment(
    facts: &SourceFacts,
    config: &Config,
) -> Result<Planned<(Values, Vec<EnvVar>)>> {
    let mut values = BTreeMap::from([("RUST_LOG".to_string(), "info".to_string())]);
    let mut vars: Vec<EnvVar> = Vec::new();
    for (k, v) in config.env.iter().flatten() {
        if reserved(k) {
            bail!(
                "{} sets {k}; the port is `port`, and platforms reserve PORT and K_* — remove it",
                config.source("env")
            );
        }
        if is_secret_env(k) || facts.env.iter().any(|e| e.name == *k && e.secret) {
            bail!(
                "{} sets {k}, which looks like a credential, in a file that is committed; remove it and set it on the platform (fly secrets set, Secret Manager, Render's dashboard, the VM's env file)",
                config.source("env")
            );
        }
        values.insert(k.clone(), v.clone());
        vars.push(EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            required: false,
            secret: false,
            from: CONFIGURED.into(),
        });
    }
    for e in facts.env.iter().filter(|e| !reserved(&e.name)) {
        if vars.iter().any(|v| v.name == e.name) || e.name == "RUST_LOG" {
            continue;
        }
        let secret = e.secret || is_secret_env(&e.name);
        let value = e.default.clone().filter(|_| !secret);
        if let Some(v) = &value {
            values.insert(e.name.clone(), v.clone());
        }
        vars.push(EnvVar {
            name: e.name.clone(),
            required: e.required && value.is_none(),
            value,
            secret,
            from: e.at.clone(),
        });
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    let mut notes = Notes::default();
    for v in &vars {
        notes.decide(Topic::Env, shown(v), why(v, config));
    }
    Ok(notes.with((values, vars)))
}

/// Names the platforms set themselves.
fn reserved(name: &str) -> bool {
    name == "PORT" || name.starts_with("K_")
}

/// `NAME=value`, or `NAME` with what it is.
fn shown(v: &EnvVar) -> String {
    match (&v.value, v.secret, v.required) {
        (Some(value), _, _) => format!("{}={value}", v.name),
        (None, true, true) => format!("{} (secret, required)", v.name),
        (None, true, false) => format!("{} (secret)", v.name),
        (None, false, true) => format!("{} (required, no default)", v.name),
        (None, false, false) => format!("{} (optional)", v.name),
    }
}

fn why(v: &EnvVar, config: &Config) -> String {
    let read = if v.from == CONFIGURED {
        config.source("env")
    } else {
        format!("read at {}", v.from)
    };
    let how = if v.secret {
        "declared by name only: a platform secret, never a value in a file"
    } else if v.value.is_some() {
        "set in the image's platform files"
    } else if v.required {
        "no default: set it on the platform before deploying"
    } else {
        "unset unless you set it"
    };
    format!("{read}; {how}")
}

/// A Secret Manager secret name for a variable: lower case, `_` as `-`.
pub fn secret_name(var: &str) -> String {
    var.to_ascii_lowercase().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EnvRead;

    fn read(name: &str, default: Option<&str>, required: bool, secret: bool) -> EnvRead {
        EnvRead {
            name: name.into(),
            default: default.map(String::from),
            required,
            secret,
            at: "src/main.rs:3".into(),
        }
    }

    #[test]
    fn secrets_have_no_value_and_defaults_become_values() {
        let facts = SourceFacts {
            env: vec![
                read("DATABASE_URL", None, true, true),
                read("JWT_SECRET", Some("dev"), false, false),
                read("WORKERS", Some("4"), false, false),
                read("API_BASE", None, true, false),
                read("PORT", Some("3000"), false, false),
            ],
            ..SourceFacts::default()
        };
        let config = Config {
            env: Some(BTreeMap::from([("REGION".into(), "eu".into())])),
            ..Config::default()
        };
        let p = environment(&facts, &config).unwrap();
        let (values, vars) = p.value;
        assert_eq!(
            values.keys().collect::<Vec<_>>(),
            ["REGION", "RUST_LOG", "WORKERS"]
        );
        let names: Vec<String> = vars.iter().map(shown).collect();
        assert_eq!(
            names,
            [
                "API_BASE (required, no default)",
                "DATABASE_URL (secret, required)",
                "JWT_SECRET (secret)",
                "REGION=eu",
                "WORKERS=4"
            ]
        );
        assert!(p.notes.decisions[0].why.contains("src/main.rs:3"));
        assert_eq!(secret_name("DATABASE_URL"), "database-url");
    }

    #[test]
    fn env_may_not_set_credentials_or_reserved_names() {
        for name in ["API_TOKEN", "PORT", "K_SERVICE"] {
            let config = Config {
                env: Some(BTreeMap::from([(name.into(), "x".into())])),
                ..Config::default()
            };
            let err = environment(&SourceFacts::default(), &config)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
        assert!(!is_secret_env("RUST_LOG") && !is_secret_env("KEYBOARD"));
    }
}

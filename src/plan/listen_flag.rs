//! Flags that move a loopback listen address: when the app binds loopback by default and only a
//! command-line flag moves it (clap `--listen`, default `::1`, no env var), the image's command
//! passes that flag with the all-interfaces address its type takes, as the listen env vars do
//! for addresses read from the environment.

use super::run::shown;
use super::{Decision, Notes, Planned, Topic};
use crate::config::Config;
use crate::model::{CliArgKind, CliFacts, ListenFlag, PortEvidence};

/// The flags and values to append to the command, with their decisions; none when the command
/// already passes the flag. Arguments set in the configuration are the user's: a missing flag is
/// warned about, not added.
pub(super) fn flags(
    found: &[ListenFlag],
    config: &Config,
    args: &[String],
    port: u16,
) -> Planned<Vec<String>> {
    let mut notes = Notes::default();
    let mut out = Vec::new();
    for f in found {
        let passed = args
            .iter()
            .any(|a| a == &f.flag || a.starts_with(&format!("{}=", f.flag)));
        if passed {
            continue;
        }
        let value = all_interfaces(f, port);
        if config.args.is_some() {
            notes.warn(format!(
                "{}: the app listens on {} unless {} says otherwise, and {} does not pass it; add `\"{}\", \"{value}\"` to it",
                f.at,
                f.default,
                f.flag,
                config.source("args"),
                f.flag
            ));
            continue;
        }
        notes.decide(
            Topic::ListenFlag,
            format!("{} {value}", f.flag),
            format!(
                "the app listens on {} unless {} says otherwise ({}), and no env var moves it",
                f.default, f.flag, f.at
            ),
        );
        out.push(f.flag.clone());
        out.push(value);
    }
    notes.with(out)
}

/// The address on all interfaces that `flag` takes: the default's family unless the type allows
/// only the other, with the plan's port when the default names one.
fn all_interfaces(flag: &ListenFlag, port: u16) -> String {
    let ty = flag.ty.rsplit("::").next().unwrap_or(&flag.ty);
    let v6 = match ty {
        "Ipv4Addr" | "SocketAddrV4" => false,
        "Ipv6Addr" | "SocketAddrV6" => true,
        _ => flag.default.contains("::1"),
    };
    let has_port = crate::model::split_host(&flag.default).is_some_and(|(_, p)| p.is_some());
    match (v6, has_port) {
        (true, true) => format!("[::]:{port}"),
        (true, false) => "::".to_string(),
        (false, true) => format!("0.0.0.0:{port}"),
        (false, false) => "0.0.0.0".to_string(),
    }
}

/// The port flag and the plan's port, when the app must be told its port (see `untold_port`:
/// `found` is the default its sources show) and its command line takes a port flag (clap
/// `--port`) in the scope of `args`; none when the command already passes it. With `args` set
/// in the configuration, or no port flag while the configured port differs from the default
/// found, a warning says what to do.
pub(super) fn port_flag(
    cli: &CliFacts,
    config: &Config,
    args: &[String],
    (port, found): (u16, Option<&PortEvidence>),
) -> Planned<Vec<String>> {
    let mut notes = Notes::default();
    let listens = match found {
        Some(f) => format!("the app listens on {} ({})", f.port, f.at),
        None => "the app's sources name no default port".to_string(),
    };
    let why = match config.port {
        Some(_) => format!("{} = {port}, but {listens}", config.source("port")),
        None => format!("the plan's port is {port}, but {listens}"),
    };
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let flag = cli.args.iter().find(|a| {
        !a.positional
            && a.kind == CliArgKind::Port
            && a.scope.len() <= words.len()
            && a.scope.iter().zip(&words).all(|(s, w)| s == *w)
    });
    let Some(flag) = flag else {
        if let (Some(_), Some(f)) = (config.port, found) {
            notes.warn(format!(
                "{} = {port} but the app listens on {} ({}) and does not read PORT; make them agree",
                config.source("port"),
                f.port,
                f.at
            ));
        }
        return notes.with(Vec::new());
    };
    let passed = args
        .iter()
        .any(|a| a == &flag.name || a.starts_with(&format!("{}=", flag.name)));
    if passed {
        return notes.with(Vec::new());
    }
    if config.args.is_some() {
        notes.warn(format!(
            "{why}, and {} does not pass {}; add `\"{}\", \"{port}\"` to it",
            config.source("args"),
            flag.name,
            flag.name
        ));
        return notes.with(Vec::new());
    }
    notes.decide(
        Topic::ListenFlag,
        format!("{} {port}", flag.name),
        format!("{why}; {} ({}) sets it", flag.name, flag.at),
    );
    notes.with(vec![flag.name.clone(), port.to_string()])
}

/// `args` followed by the listen flags; the arguments' decision shows the whole command.
pub(super) fn with_listen_flags(
    mut args: Vec<String>,
    flags: Vec<String>,
    decisions: &mut [Decision],
) -> Vec<String> {
    if flags.is_empty() {
        return args;
    }
    args.extend(flags);
    if let Some(d) = decisions.iter_mut().rev().find(|d| d.topic == Topic::Args) {
        d.value = shown(&args);
        d.why = format!("{}; then the listen flag below", d.why);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(default: &str, ty: &str) -> ListenFlag {
        ListenFlag {
            flag: "--listen".into(),
            default: default.into(),
            ty: ty.into(),
            at: "src/main.rs:3".into(),
        }
    }

    #[test]
    fn the_value_is_of_the_family_the_type_takes() {
        for (default, ty, want) in [
            ("::1", "IpAddr", "::"),
            ("::1", "std::net::Ipv4Addr", "0.0.0.0"),
            ("127.0.0.1", "IpAddr", "0.0.0.0"),
            ("127.0.0.1", "Ipv6Addr", "::"),
            ("localhost", "String", "0.0.0.0"),
            ("127.0.0.1:8080", "SocketAddr", "0.0.0.0:9000"),
            ("[::1]:8080", "String", "[::]:9000"),
        ] {
            assert_eq!(
                all_interfaces(&flag(default, ty), 9000),
                want,
                "{default} {ty}"
            );
        }
    }

    #[test]
    fn the_port_flag_carries_a_port_the_app_would_not_take_otherwise() {
        let cli = CliFacts {
            args: vec![crate::model::CliArg {
                scope: vec!["serve".into()],
                name: "--port".into(),
                positional: false,
                required: false,
                kind: CliArgKind::Port,
                at: "src/cli.rs:9".into(),
            }],
            ..CliFacts::default()
        };
        let default = PortEvidence {
            port: 5000,
            host: None,
            at: "src/cli.rs:20".into(),
            kind: crate::model::PortKind::Literal,
        };
        let config = Config {
            port: Some(5080),
            ..Config::default()
        };
        let serve = ["serve".to_string()];
        let planned = port_flag(&cli, &config, &serve, (5080, Some(&default)));
        assert_eq!(planned.value, ["--port", "5080"]);
        assert!(planned.notes.decisions[0].why.contains("listens on 5000"));
        // Out of the flag's subcommand, or already passed: nothing added.
        assert!(port_flag(&cli, &config, &[], (5080, Some(&default)))
            .value
            .is_empty());
        let passed = ["serve".to_string(), "--port=6000".to_string()];
        assert!(port_flag(&cli, &config, &passed, (5080, Some(&default)))
            .value
            .is_empty());
        // Arguments set in the configuration are the user's: only a warning.
        let config = Config {
            port: Some(5080),
            args: Some(serve.to_vec()),
            ..Config::default()
        };
        let planned = port_flag(&cli, &config, &serve, (5080, Some(&default)));
        assert!(planned.value.is_empty());
        assert!(planned.notes.warnings[0].contains("add `\"--port\", \"5080\"`"));
        // No port flag: the configured port that differs is warned about.
        let planned = port_flag(
            &CliFacts::default(),
            &config,
            &serve,
            (5080, Some(&default)),
        );
        assert!(planned.notes.warnings[0].contains("make them agree"));
    }

    #[test]
    fn a_flag_already_passed_is_not_added_and_configured_args_are_only_warned_about() {
        let f = [flag("::1", "IpAddr")];
        let planned = flags(&f, &Config::default(), &[], 8051);
        assert_eq!(planned.value, ["--listen", "::"]);
        let planned = flags(&f, &Config::default(), &["--listen=0.0.0.0".into()], 8051);
        assert!(planned.value.is_empty() && planned.notes.decisions.is_empty());
        let config = Config {
            args: Some(vec!["serve".into()]),
            ..Config::default()
        };
        let planned = flags(&f, &config, &["serve".into()], 8051);
        assert!(planned.value.is_empty());
        assert!(planned.notes.warnings[0].contains("add `\"--listen\", \"::\"`"));
    }
}

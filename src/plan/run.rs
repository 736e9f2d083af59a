//! The command the image runs: the arguments after the binary (the Dockerfile's `CMD`, Cloud
//! Run's `args`, the VM unit's `ExecStart`) and the release task run once per deploy.
//!
//! Sources, strongest first: `args` in the configuration, the `Procfile`'s `web` process, the
//! hand-written Dockerfile's `ENTRYPOINT`/`CMD`, the framework's command, then the binary's clap
//! command line: a subcommand named like a server (nested ones too) and a directory to serve.
//! Each is taken only when it runs the chosen binary; `$PORT` becomes the plan's port, because
//! an exec-form command has no shell to expand it. A command line the bare binary cannot start
//! with (a required subcommand, argument or flag whose value cannot be known) is refused with
//! what to set, rather than guessed.

use super::{Notes, Planned, Topic};
use crate::config::Config;
use crate::model::{
    CliArg, CliArgKind, CliFacts, Located, ProjectModel, RequiredCommand, RunCommand,
};
use anyhow::{bail, Result};

/// Clap subcommand names that start a server, in the order one is preferred.
pub const SERVER_SUBCOMMANDS: &[&str] = &["serve", "server", "start", "web", "run", "daemon"];

/// The directory the image creates and passes to a binary whose argument is a directory to
/// serve (under the image's working directory `/app`).
pub const SERVED_DIR: &str = "/app/data";

/// How the reason of arguments taken from a hand-written Dockerfile starts (`init` pins them,
/// since the generated Dockerfile replaces it).
pub const DOCKERFILE_ARGS: &str = "the existing Dockerfile's command";

/// The run command: the image's arguments and the release task's arguments.
pub struct Run {
    pub args: Vec<String>,
    pub release: Option<Vec<String>>,
    /// [`SERVED_DIR`] when the arguments pass it: the image creates it.
    pub served_dir: Option<String>,
}

/// Decides the arguments and the release task for `bin` listening on `port`; `port_known` is
/// false when no source gave the port (it is imggen's fallback).
pub(super) fn command(
    model: &ProjectModel,
    cli: &CliFacts,
    required: Option<&RequiredCommand>,
    config: &Config,
    (bin, port, port_known): (&str, u16, bool),
) -> Result<Planned<Run>> {
    let mut notes = Notes::default();
    let mut served_dir = None;
    let explicit = config
        .args
        .as_ref()
        .map(|args| (args.clone(), config.source("args")))
        .or_else(|| procfile_web(model, bin, port, &mut notes));
    // A Dockerfile that runs the bare binary leaves its arguments to `docker run`: a
    // framework's command or the clap command line says more.
    let (explicit, bare) = match explicit {
        Some(found) => (Some(found), None),
        None => match dockerfile(model, bin, port, &mut notes) {
            Some((args, why)) if args.is_empty() => (None, Some((args, why))),
            found => (found, None),
        },
    };
    let args = match explicit {
        Some(found) => {
            if !port_known {
                if let Some(a) = config_arg(cli, &[]) {
                    bail!(
                        "{bin} reads its listen address from the configuration file given as its argument {} ({}) and its sources name no port; set `port` in imggen.toml or pass `--port`",
                        a.name,
                        a.at
                    );
                }
            }
            Some(found)
        }
        None => match required.map(|r| (r.args.clone(), r.why.clone())) {
            Some(found) => Some(found),
            None => match from_cli(cli, bin, port_known)? {
                Some(found) => {
                    served_dir = found.served_dir;
                    Some((found.args, found.why))
                }
                None => bare,
            },
        },
    };
    let args = match args {
        Some((args, why)) => {
            notes.decide(
                Topic::Args,
                if args.is_empty() {
                    "none".to_string()
                } else {
                    shown(&args)
                },
                why,
            );
            args
        }
        None => {
            notes.decide(
                Topic::Args,
                "none",
                "no Procfile, hand-written Dockerfile or server-like subcommand gives any; set `args` if the binary needs some",
            );
            Vec::new()
        }
    };
    let release = release(model, bin, port, &mut notes);
    Ok(notes.with(Run {
        args,
        release,
        served_dir,
    }))
}

/// The positional configuration-file argument of the binary or of the subcommand `scope`.
fn config_arg<'a>(cli: &'a CliFacts, scope: &[String]) -> Option<&'a CliArg> {
    cli.args
        .iter()
        .find(|a| scope.starts_with(&a.scope) && a.positional && a.kind == CliArgKind::ConfigFile)
}

/// Arguments found on the clap command line, why, and the directory the image must create.
struct FromCli {
    args: Vec<String>,
    why: String,
    served_dir: Option<String>,
}

/// The server-like subcommand at each level where there is one (the words, and where each is
/// declared); `Err` when a level requires a subcommand and none is named like a server.
fn server_subcommand<'a>(cli: &'a CliFacts, bin: &str) -> Result<(Vec<String>, Vec<&'a str>)> {
    let mut scope: Vec<String> = Vec::new();
    let mut chosen_at: Vec<&str> = Vec::new();
    loop {
        let children: Vec<_> = cli
            .subcommands
            .iter()
            .filter(|s| s.words.len() == scope.len() + 1 && s.words.starts_with(&scope))
            .collect();
        let best = SERVER_SUBCOMMANDS
            .iter()
            .find_map(|w| children.iter().find(|s| s.name == *w));
        if let Some(s) = best {
            scope.clone_from(&s.words);
            chosen_at.push(&s.at);
            continue;
        }
        if let Some((_, at)) = cli.required_subcommand.iter().find(|(s, _)| *s == scope) {
            if !children.is_empty() {
                let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
                let typed: String = scope.iter().map(|w| format!("\"{w}\", ")).collect();
                bail!(
                    "{bin}{} needs a subcommand ({}; {at}) and none is named like a server ({}); set `args = [{typed}\"<subcommand>\"]` in imggen.toml or pass `--arg <subcommand>`",
                    scope.iter().map(|w| format!(" {w}")).collect::<String>(),
                    names.join(", "),
                    SERVER_SUBCOMMANDS.join(", "),
                );
            }
        }
        return Ok((scope, chosen_at));
    }
}

/// The arguments the clap command line needs: the server-like subcommand, then the directory
/// to serve; `Err` when the bare binary cannot start and nothing says with what (a required
/// subcommand with no server-like name, a required argument or flag, a configuration file
/// that holds the unknown port).
fn from_cli(cli: &CliFacts, bin: &str, port_known: bool) -> Result<Option<FromCli>> {
    let (scope, chosen_at) = server_subcommand(cli, bin)?;
    let in_scope: Vec<&CliArg> = cli
        .args
        .iter()
        .filter(|a| scope.starts_with(&a.scope))
        .collect();
    if let Some(a) = config_arg(cli, &scope) {
        if !port_known || a.required {
            let unknown = |s: &'static str| if port_known { "" } else { s };
            bail!(
                "{bin} reads its settings{} from the configuration file given as its argument {} ({}){}; set `args` (the file's path in the image, with the flags the binary needs){} in imggen.toml, or pass `--arg`{}",
                unknown(", the listen address among them,"),
                a.name,
                a.at,
                unknown(" and its sources name no port"),
                unknown(" and `port`"),
                unknown(" and `--port`"),
            );
        }
    }
    if let Some(a) = in_scope
        .iter()
        .find(|a| a.required && a.kind != CliArgKind::ServeDir)
    {
        let example = if a.positional {
            "\"<value>\"".to_string()
        } else {
            format!("\"{}\", \"<value>\"", a.name)
        };
        let typed: String = scope.iter().map(|w| format!("\"{w}\", ")).collect();
        bail!(
            "{bin} cannot start without its {} {} ({}), whose value imggen cannot know; set `args = [{typed}{example}]` in imggen.toml or pass `--arg`",
            if a.positional { "argument" } else { "flag" },
            a.name,
            a.at
        );
    }
    let mut why: Vec<String> = Vec::new();
    match chosen_at.as_slice() {
        [] => {}
        [at] => why.push(format!(
            "the clap subcommand `{}` ({at}) is named like a server",
            scope.join(" ")
        )),
        ats => why.push(format!(
            "the clap subcommands `{}` ({}) are named like a server",
            scope.join(" "),
            ats.join(", ")
        )),
    }
    let mut args = scope;
    let mut served_dir = None;
    if let Some(a) = in_scope
        .iter()
        .find(|a| a.positional && a.kind == CliArgKind::ServeDir)
    {
        args.push(SERVED_DIR.to_string());
        served_dir = Some(SERVED_DIR.to_string());
        why.push(format!(
            "its argument {} ({}) is the directory to serve: {SERVED_DIR}, which the image creates empty (mount a volume there)",
            a.name, a.at
        ));
    }
    if args.is_empty() {
        return Ok(None);
    }
    Ok(Some(FromCli {
        args,
        why: format!(
            "{}; set `args` {}",
            why.join("; "),
            if chosen_at.is_empty() {
                "to serve another"
            } else {
                "if another one serves"
            }
        ),
        served_dir,
    }))
}

/// Words joined as a person would type them.
pub fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                serde_json::to_string(a).unwrap_or_default()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `program` names the binary: `app`, `./target/release/app`, `/usr/local/bin/app`.
fn runs_bin(program: &str, bin: &str) -> bool {
    program.rsplit('/').next() == Some(bin)
}

/// The words after the binary, with `$PORT`/`${PORT}` replaced by `port`; `Err` names the first
/// other shell expansion, which an exec-form command cannot do.
fn after_bin(words: &[String], port: u16) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for w in words {
        let w = w
            .replace("${PORT}", &port.to_string())
            .replace("$PORT", &port.to_string());
        if let Some(bad) = w
            .chars()
            .find(|c| matches!(c, '$' | '`' | '|' | '&' | ';' | '<' | '>' | '*' | '?'))
        {
            return Err(format!("`{bad}` in `{w}`"));
        }
        out.push(w);
    }
    Ok(out)
}

/// What `$PORT` became, for the decision's reason.
fn port_note(words: &[String], port: u16) -> String {
    if words
        .iter()
        .any(|w| w.contains("$PORT") || w.contains("${PORT}"))
    {
        format!("; $PORT is the plan's port {port} (an exec-form CMD has no shell to expand it)")
    } else {
        String::new()
    }
}

/// The `Procfile`'s `web` process when it runs the binary.
fn procfile_web(
    model: &ProjectModel,
    bin: &str,
    port: u16,
    notes: &mut Notes,
) -> Option<(Vec<String>, String)> {
    let p = model.files.procfile.as_ref()?;
    let web = p.web.as_ref()?;
    let at = format!("{}:{}", p.file, web.line);
    taken(
        &web.value,
        bin,
        port,
        &at,
        "the Procfile's web process",
        notes,
    )
}

/// `words` as the binary's arguments when its program is the binary, else a warning.
fn taken(
    words: &[String],
    bin: &str,
    port: u16,
    at: &str,
    what: &str,
    notes: &mut Notes,
) -> Option<(Vec<String>, String)> {
    let (program, rest) = words.split_first()?;
    if program.contains(char::is_whitespace) {
        notes.warn(format!(
            "{at}: {what} `{program}` needs a shell (quotes or escapes), which the image's exec-form CMD does not run; set `args` in imggen.toml"
        ));
        return None;
    }
    if !runs_bin(program, bin) {
        notes.warn(format!(
            "{at}: {what} runs `{}`, not the binary {bin}, so its arguments are not used; set `args` in imggen.toml if the binary needs any",
            shown(words)
        ));
        return None;
    }
    match after_bin(rest, port) {
        Ok(args) => Some((args, format!("{what} ({at}){}", port_note(rest, port)))),
        Err(bad) => {
            notes.warn(format!(
                "{at}: {what} needs a shell ({bad}), which the image's exec-form CMD does not run; set `args` in imggen.toml"
            ));
            None
        }
    }
}

/// The hand-written Dockerfile's command (ENTRYPOINT then CMD, an init such as tini skipped)
/// when it runs the binary.
fn dockerfile(
    model: &ProjectModel,
    bin: &str,
    port: u16,
    notes: &mut Notes,
) -> Option<(Vec<String>, String)> {
    let d = model.files.existing_dockerfile.as_ref()?;
    let words_of = |c: &Located<RunCommand>| match &c.value {
        RunCommand::Exec(w) => w.clone(),
        // Quotes and escapes need a shell: kept in one word, which `taken` refuses.
        RunCommand::Shell(s) if s.contains(['"', '\'', '\\']) => vec![s.clone()],
        RunCommand::Shell(s) => s.split_whitespace().map(String::from).collect(),
    };
    let (mut words, line) = match (&d.entrypoint, &d.cmd) {
        (Some(e), _) if matches!(e.value, RunCommand::Shell(_)) => (words_of(e), e.line),
        (Some(e), Some(c)) => {
            let mut w = words_of(e);
            w.extend(words_of(c));
            (w, e.line.max(c.line))
        }
        (Some(e), None) => (words_of(e), e.line),
        (None, Some(c)) => (words_of(c), c.line),
        (None, None) => return None,
    };
    if words
        .first()
        .is_some_and(|w| matches!(w.rsplit('/').next(), Some("tini" | "dumb-init")))
    {
        words.remove(0);
        if words.first().map(String::as_str) == Some("--") {
            words.remove(0);
        }
    }
    let at = format!("{}:{line}", d.file);
    taken(
        &words,
        bin,
        port,
        &at,
        "the existing Dockerfile's command",
        notes,
    )
}

/// The `Procfile`'s `release` process, when it runs the binary.
fn release(model: &ProjectModel, bin: &str, port: u16, notes: &mut Notes) -> Option<Vec<String>> {
    let p = model.files.procfile.as_ref()?;
    let r = p.release.as_ref()?;
    let at = format!("{}:{}", p.file, r.line);
    let (args, why) = taken(
        &r.value,
        bin,
        port,
        &at,
        "the Procfile's release process",
        notes,
    )?;
    notes.decide(
        Topic::Release,
        format!("{bin} {}", shown(&args)),
        format!("{why}; run once per deploy before the new version starts"),
    );
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExistingDockerfile, Procfile, Subcommand};

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn with_procfile(web: &str, release: Option<&str>) -> ProjectModel {
        let mut m = ProjectModel::default();
        m.files.procfile = Some(Procfile {
            file: "Procfile".into(),
            web: Some(Located {
                value: words(web),
                line: 1,
            }),
            release: release.map(|r| Located {
                value: words(r),
                line: 2,
            }),
        });
        m
    }

    fn run(m: &ProjectModel, subs: &[Subcommand], config: &Config) -> (Run, Notes) {
        let cli = CliFacts {
            subcommands: subs.to_vec(),
            ..CliFacts::default()
        };
        let p = command(m, &cli, None, config, ("app", 8080, true)).unwrap();
        (p.value, p.notes)
    }

    #[test]
    fn procfile_web_and_release_with_port() {
        let m = with_procfile(
            "./target/release/app server --port $PORT",
            Some("./target/release/app migrate"),
        );
        let (r, notes) = run(&m, &[], &Config::default());
        assert_eq!(r.args, ["server", "--port", "8080"]);
        assert_eq!(r.release, Some(vec!["migrate".to_string()]));
        assert!(
            notes.decisions[0].why.contains("Procfile:1"),
            "{:?}",
            notes.decisions
        );
        assert!(notes.decisions[0]
            .why
            .contains("$PORT is the plan's port 8080"));
    }

    #[test]
    fn config_wins_and_other_programs_and_shells_are_not_taken() {
        let m = with_procfile("./target/release/app server", None);
        let config = Config {
            args: Some(vec!["serve".into()]),
            ..Config::default()
        };
        assert_eq!(run(&m, &[], &config).0.args, ["serve"]);
        let (r, notes) = run(
            &with_procfile("bin/start.sh", None),
            &[],
            &Config::default(),
        );
        assert!(r.args.is_empty());
        assert!(
            notes.warnings[0].contains("not the binary app"),
            "{:?}",
            notes.warnings
        );
        let (r, notes) = run(
            &with_procfile("app serve --db $DATABASE_URL", None),
            &[],
            &Config::default(),
        );
        assert!(r.args.is_empty());
        assert!(
            notes.warnings[0].contains("needs a shell"),
            "{:?}",
            notes.warnings
        );
    }

    #[test]
    fn dockerfile_then_subcommand() {
        let mut m = ProjectModel::default();
        m.files.existing_dockerfile = Some(ExistingDockerfile {
            file: "Dockerfile".into(),
            entrypoint: Some(Located {
                value: RunCommand::Exec(words("/usr/bin/tini -- /usr/local/bin/app")),
                line: 9,
            }),
            cmd: Some(Located {
                value: RunCommand::Exec(words("web --port 3000")),
                line: 10,
            }),
            ..Default::default()
        });
        let subs = [Subcommand {
            name: "serve".into(),
            words: vec!["serve".into()],
            at: "src/main.rs:4".into(),
        }];
        let (r, notes) = run(&m, &subs, &Config::default());
        assert_eq!(r.args, ["web", "--port", "3000"]);
        assert!(notes.decisions[0].why.contains("Dockerfile:10"));
        // The bare binary as ENTRYPOINT (arguments left to `docker run`): the subcommand wins.
        let mut bare = m.clone();
        if let Some(d) = bare.files.existing_dockerfile.as_mut() {
            d.entrypoint = Some(Located {
                value: RunCommand::Exec(words("./app")),
                line: 9,
            });
            d.cmd = None;
        }
        let (r, _) = run(&bare, &subs, &Config::default());
        assert_eq!(r.args, ["serve"]);
        let (r, notes) = run(&bare, &[], &Config::default());
        assert!(r.args.is_empty());
        assert!(
            notes.decisions[0].why.contains("Dockerfile:9"),
            "{:?}",
            notes.decisions
        );
        let mut quoted = m.clone();
        if let Some(d) = quoted.files.existing_dockerfile.as_mut() {
            d.entrypoint = None;
            d.cmd = Some(Located {
                value: RunCommand::Shell("/usr/local/bin/app serve \"a b\"".into()),
                line: 4,
            });
        }
        let (r, notes) = run(&quoted, &subs, &Config::default());
        assert_eq!(
            r.args,
            ["serve"],
            "the subcommand, not the quoted shell words"
        );
        assert!(notes.warnings[0].contains("Dockerfile:4: the existing Dockerfile's command `/usr/local/bin/app serve \"a b\"` needs a shell"), "{:?}", notes.warnings);
        let (r, notes) = run(&ProjectModel::default(), &subs, &Config::default());
        assert_eq!(r.args, ["serve"]);
        assert!(notes.decisions[0].why.contains("src/main.rs:4"));
        let migrate = [Subcommand {
            name: "migrate".into(),
            words: vec!["migrate".into()],
            at: "src/main.rs:5".into(),
        }];
        assert!(run(&ProjectModel::default(), &migrate, &Config::default())
            .0
            .args
            .is_empty());
    }
}

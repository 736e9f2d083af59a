//! A hand-written Dockerfile as evidence: the `EXPOSE`, `ENV`, `CMD`/`ENTRYPOINT` and `USER` of
//! its final stage, with their line numbers. Pure and forgiving: a line it cannot read is skipped,
//! never an error, because the file is only a hint about how the app runs.

use crate::model::{ExistingDockerfile, Located, RunCommand, HIDDEN};
use std::collections::BTreeMap;

/// True for an `ENV` name or value that looks like a credential: a name with KEY, SECRET,
/// TOKEN, PASS, CREDENTIAL, AUTH or PRIVATE in it, or a URL with a password.
fn looks_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let url_password = value
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .is_some_and(|authority| {
            authority
                .rsplit_once('@')
                .is_some_and(|(user, _)| user.contains(':'))
        });
    url_password
        || [
            "KEY",
            "SECRET",
            "TOKEN",
            "PASS",
            "CREDENTIAL",
            "AUTH",
            "PRIVATE",
        ]
        .iter()
        .any(|w| upper.contains(w))
}

/// Reads the final stage of Dockerfile `text` (named `file` in findings). A final stage built
/// `FROM` an earlier stage starts with that stage's findings, as its image does.
pub fn parse(file: &str, text: &str) -> ExistingDockerfile {
    type Stage = (ExistingDockerfile, BTreeMap<String, String>);
    let empty = || -> Stage {
        (
            ExistingDockerfile {
                file: file.to_string(),
                ..ExistingDockerfile::default()
            },
            BTreeMap::new(),
        )
    };
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut named: BTreeMap<String, Stage> = BTreeMap::new();
    let mut current: Option<Stage> = None;
    let mut current_name: Option<String> = None;
    for (line, instruction) in logical_lines(text) {
        let (keyword, rest) = match instruction.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_ascii_uppercase(), r.trim()),
            None => (instruction.to_ascii_uppercase(), ""),
        };
        if keyword == "FROM" {
            if let (Some(name), Some(stage)) = (current_name.take(), current.take()) {
                named.insert(name, stage);
            }
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let base = words.first().map(|w| w.to_ascii_lowercase());
            current = Some(
                base.and_then(|b| named.get(&b).cloned())
                    .unwrap_or_else(empty),
            );
            current_name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("as"))
                .and_then(|i| words.get(i + 1))
                .map(|n| n.to_ascii_lowercase());
            continue;
        }
        let Some((facts, vars)) = current.as_mut() else {
            if keyword == "ARG" {
                for (k, v) in arg_defaults(rest, &global_args) {
                    global_args.insert(k, v.unwrap_or_default());
                }
            }
            continue;
        };
        apply(&keyword, rest, line, (facts, vars), &global_args);
    }
    current.unwrap_or_else(empty).0
}

/// Applies one instruction of the current stage (after its `FROM`) to what it says.
fn apply(
    keyword: &str,
    rest: &str,
    line: usize,
    (facts, vars): (&mut ExistingDockerfile, &mut BTreeMap<String, String>),
    global_args: &BTreeMap<String, String>,
) {
    match keyword {
        "ARG" => {
            for (k, v) in arg_defaults(rest, vars) {
                let v = v
                    .or_else(|| global_args.get(&k).cloned())
                    .unwrap_or_default();
                vars.insert(k, v);
            }
        }
        "ENV" => {
            for (k, v) in env_pairs(rest, vars) {
                vars.insert(k.clone(), v.clone());
                let v = if looks_secret(&k, &v) {
                    HIDDEN.to_string()
                } else {
                    v
                };
                facts.env.retain(|e| e.value.0 != k);
                facts.env.push(Located {
                    value: (k, v),
                    line,
                });
            }
        }
        "EXPOSE" => {
            for word in rest.split_whitespace() {
                let word = substitute(word, vars);
                let port = word.split('/').next().unwrap_or("");
                let port = port.split('-').next().unwrap_or("");
                if let Ok(p) = port.parse::<u16>() {
                    if p > 0 && !facts.ports.iter().any(|q| q.value == p) {
                        facts.ports.push(Located { value: p, line });
                    }
                }
            }
        }
        "USER" if !rest.is_empty() => {
            facts.user = Some(Located {
                value: substitute(rest, vars),
                line,
            });
        }
        "CMD" => {
            facts.cmd = Some(Located {
                value: run_command(rest),
                line,
            })
        }
        "ENTRYPOINT" => {
            facts.entrypoint = Some(Located {
                value: run_command(rest),
                line,
            });
            // Docker drops an inherited CMD when a stage sets ENTRYPOINT.
            facts.cmd = None;
        }
        _ => {}
    }
}

/// Instructions with the line they start on: continuations joined, comments and blank lines
/// dropped (also inside a continuation, as Docker does), the `# escape=` directive honoured.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut directives = true;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if directives {
            if let Some(d) = trimmed.strip_prefix('#') {
                if let Some((k, v)) = d.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("escape") {
                        if let Some(c) = v.trim().chars().next() {
                            escape = c;
                        }
                        continue;
                    }
                }
            }
            directives = false;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if continues {
            pending = Some((start, acc));
        } else {
            out.push((start, acc));
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// `CMD`/`ENTRYPOINT` arguments: a JSON array of strings is the exec form, anything else the
/// shell form (Docker's own rule).
fn run_command(rest: &str) -> RunCommand {
    if rest.starts_with('[') {
        if let Ok(args) = serde_json::from_str::<Vec<String>>(rest) {
            return RunCommand::Exec(args);
        }
    }
    RunCommand::Shell(rest.to_string())
}

/// `ARG a=1 b`: names with their default when given (substituted with `vars`).
fn arg_defaults(rest: &str, vars: &BTreeMap<String, String>) -> Vec<(String, Option<String>)> {
    words(rest)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(substitute(v, vars))),
            None => (w, None),
        })
        .collect()
}

/// `ENV a=1 b="two words"` or the legacy `ENV a one value`, substituted with `vars`.
fn env_pairs(rest: &str, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        if first.is_empty() {
            return Vec::new();
        }
        return vec![(first.to_string(), substitute(&unquote(value), vars))];
    }
    words(rest)
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), substitute(v, vars)))
        })
        .collect()
}

fn unquote(s: &str) -> String {
    words(s).join(" ")
}

/// Splits on whitespace outside quotes and removes the quotes (a backslash escapes the next
/// character outside single quotes). `$` references are left for [`substitute`].
pub(super) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Docker's variable substitution: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alt}`;
/// unknown names are empty, `\$` is a literal dollar.
fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(len) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + len].iter().collect();
            let value = if let Some((name, default)) = inner.split_once(":-") {
                vars.get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| substitute(default, vars))
            } else if let Some((name, alt)) = inner.split_once(":+") {
                match vars.get(name).filter(|v| !v.is_empty()) {
                    Some(_) => substitute(alt, vars),
                    None => String::new(),
                }
            } else {
                vars.get(&inner).cloned().unwrap_or_default()
            };
            out.push_str(&value);
            i += 3 + len;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i += 1 + name.chars().count();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stage_exec_forms_and_lines() {
        let d = parse(
            "Dockerfile",
            "FROM rust:1 AS build\nEXPOSE 1111\nCMD [\"no\"]\n\nFROM debian:bookworm-slim\n# a comment\nENV RUST_LOG=info APP_MODE=\"prod mode\"\nUSER 1000:1000\nEXPOSE 9000/tcp 9001\nENTRYPOINT [\"/usr/local/bin/app\"]\nCMD [\"serve\", \"--x\"]\n",
        );
        assert_eq!(
            d.ports,
            vec![
                Located {
                    value: 9000,
                    line: 9
                },
                Located {
                    value: 9001,
                    line: 9
                }
            ]
        );
        assert_eq!(
            d.env,
            vec![
                Located {
                    value: ("RUST_LOG".into(), "info".into()),
                    line: 7
                },
                Located {
                    value: ("APP_MODE".into(), "prod mode".into()),
                    line: 7
                }
            ]
        );
        assert_eq!(
            d.user,
            Some(Located {
                value: "1000:1000".into(),
                line: 8
            })
        );
        assert_eq!(
            d.runs(),
            Some(Located {
                value: "/usr/local/bin/app serve --x".into(),
                line: 11
            })
        );
        let findings = d.findings().join("\n");
        assert!(
            findings.contains("exposes port 9000 (Dockerfile:9)"),
            "{findings}"
        );
        assert!(
            findings.contains("runs `/usr/local/bin/app serve --x` (Dockerfile:11)"),
            "{findings}"
        );
        assert_eq!(d.port_evidence().unwrap().at, "Dockerfile:9");
    }

    #[test]
    fn continuations_with_comments_and_shell_form() {
        let d = parse(
            "Dockerfile",
            "FROM x\nCMD app \\\n  # inside\n\n  serve \\\n  --port 7000\nEXPOSE \\\n 7000\n",
        );
        assert_eq!(
            d.cmd,
            Some(Located {
                value: RunCommand::Shell("app serve --port 7000".into()),
                line: 2
            })
        );
        assert_eq!(
            d.ports,
            vec![Located {
                value: 7000,
                line: 7
            }]
        );
        assert_eq!(d.runs().unwrap().value, "app serve --port 7000");
    }

    #[test]
    fn arg_and_env_substitution_in_expose() {
        let d = parse(
            "Dockerfile",
            "ARG PORT=4000\nARG OTHER=1\nFROM x\nARG PORT\nEXPOSE $PORT\nENV ADMIN=4001\nEXPOSE ${ADMIN}/udp ${MISSING:-4002} $OTHER\n",
        );
        let ports: Vec<u16> = d.ports.iter().map(|p| p.value).collect();
        // OTHER is global but not redeclared in the stage, so it is empty there.
        assert_eq!(ports, vec![4000, 4001, 4002]);
    }

    #[test]
    fn shell_entrypoint_ignores_cmd_and_legacy_env() {
        let d = parse(
            "Dockerfile",
            "FROM x\nENV GREETING hello world\nENTRYPOINT exec app --flag\nCMD [\"ignored\"]\n",
        );
        assert_eq!(d.env[0].value, ("GREETING".into(), "hello world".into()));
        assert_eq!(d.runs().unwrap().value, "exec app --flag");
    }

    #[test]
    fn a_stage_from_an_earlier_stage_inherits_and_escape_directive() {
        let d = parse(
            "Dockerfile",
            "# escape=`\nFROM debian AS base\nEXPOSE 5000\nUSER app\nFROM base\nCMD [\"app\", \\\n \"x y\"]\nENV A=1 `\n B=2\n",
        );
        assert_eq!(d.ports[0].value, 5000);
        assert_eq!(d.user.as_ref().unwrap().value, "app");
        assert_eq!(d.env.len(), 2);
        // With ` as the escape character a backslash does not continue the line.
        assert!(matches!(
            d.cmd.as_ref().unwrap().value,
            RunCommand::Shell(_)
        ));
    }

    #[test]
    fn credential_values_are_never_kept() {
        let d = parse(
            "Dockerfile",
            "FROM x\nENV API_KEY=abc123 DATABASE_URL=postgres://u:pw@db/x LOG=info\nENV DB_PASSWORD s3cret\n",
        );
        let text = format!("{:?} {}", d, d.findings().join("\n"));
        for secret in ["abc123", "pw@db", "s3cret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("sets LOG=info"), "{text}");
        assert!(
            text.contains("sets API_KEY=<hidden> (Dockerfile:2); a credential in ENV"),
            "{text}"
        );
    }

    #[test]
    fn nothing_readable_is_empty_not_an_error() {
        for text in [
            "",
            "EXPOSE 80\n",
            "FROM\nEXPOSE notaport 0 70000\nUSER\n",
            "FROM x\nENV\nCMD [\"a\", 1]\nARG =\n",
        ] {
            let d = parse("Dockerfile", text);
            assert!(d.ports.is_empty() && d.user.is_none(), "{text}");
        }
        assert!(
            parse("Dockerfile", "FROM x\nCMD [\"a\", 1]\n").findings()[0]
                .contains("runs `[\"a\", 1]`")
        );
    }
}

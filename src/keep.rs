//! The user's own `.dockerignore` rules, carried into the generated `.dockerignore`.
//!
//! The kept rules live in the generated file itself, in the section under [`KEPT_HEADING`]: the
//! first run takes every rule of a hand-written `.dockerignore`, later runs read that section back,
//! so regeneration reproduces it byte for byte and the section can be edited in place. The section
//! comes after imggen's rules (Docker's later line wins, so the user's rules take effect) and,
//! when it holds exceptions, is followed by imggen's secret rules again, so no kept `!` line can
//! put a credential file in the context. Rules that would re-include a secret or exclude a file the
//! Dockerfile needs are dropped with a warning.

use crate::dockerignore::{read_patterns, DockerIgnore};
use crate::model::ProjectModel;
use crate::plan::ImagePlan;
use std::path::Path;

/// First line of the kept section in the generated `.dockerignore`.
pub const KEPT_HEADING: &str = "# Kept from your .dockerignore";
/// First line of the secret rules repeated after kept exceptions; ends the kept section.
pub const SECRETS_AGAIN: &str = "# Secrets again, after your exceptions";

/// The kept rules and why others were dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kept {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

impl Kept {
    /// True when a kept line is a `!` exception (the secret rules then follow the section).
    pub fn has_exceptions(&self) -> bool {
        self.lines.iter().any(|l| l.starts_with('!'))
    }
}

/// The `.dockerignore` text at `root`, when it is there and UTF-8 (a file imggen can carry over).
pub fn read(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join(".dockerignore")).ok()
}

/// The user's rules in `.dockerignore` text: every rule of a hand-written file, or the kept
/// section of a generated one.
pub fn user_rules(text: &str) -> Vec<String> {
    if !crate::output::is_generated(text) {
        return read_patterns(text);
    }
    // A leading empty line: Docker strips a byte-order mark from the first line of a file only.
    let mut section = String::from("\n");
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(KEPT_HEADING) {
            inside = true;
        } else if line.starts_with(SECRETS_AGAIN) {
            break;
        } else if inside {
            section.push_str(line);
            section.push('\n');
        }
    }
    read_patterns(&section)
}

/// Paths the generated Dockerfile copies into the build: manifests, sources, members, run-time
/// and compile-time directories (a file inside each directory too).
fn needed_paths(model: &ProjectModel, plan: &ImagePlan) -> Vec<String> {
    let mut dirs: Vec<String> = vec![String::new()];
    dirs.extend(
        model
            .packages
            .iter()
            .filter(|p| !p.dir.is_empty())
            .map(|p| p.dir.clone()),
    );
    let mut paths = vec!["Cargo.lock".to_string()];
    for d in &dirs {
        let prefix = if d.is_empty() {
            String::new()
        } else {
            paths.push(d.clone());
            format!("{d}/")
        };
        for f in ["Cargo.toml", "src", "src/main.rs", "src/lib.rs"] {
            paths.push(format!("{prefix}{f}"));
        }
    }
    for d in plan
        .runtime_dirs
        .iter()
        .map(|r| &r.from)
        .chain(&plan.build_inputs)
    {
        paths.push(d.clone());
        paths.push(format!("{d}/file"));
    }
    paths
}

/// The rule as a line that reads back to the same pattern: a leading `#` is escaped (it would
/// be a comment) and a pattern that starts or ends with a space gets a `/` there (which Docker
/// removes again), because line ends are trimmed.
fn writable(rule: &str) -> String {
    if let Some(rest) = rule.strip_prefix('#') {
        return format!("\\#{rest}");
    }
    let (bang, pattern) = match rule.strip_prefix('!') {
        Some(p) => ("!", p),
        None => ("", rule),
    };
    let lead = if pattern.starts_with(char::is_whitespace) {
        "/"
    } else {
        ""
    };
    let trail = if pattern.ends_with(char::is_whitespace) {
        "/"
    } else {
        ""
    };
    format!("{bang}{lead}{pattern}{trail}")
}

/// Paths a credential rule matches: each rule with `*` filled in, and a file inside it.
fn secret_samples(dir: &str) -> Vec<String> {
    crate::secrets::RULES
        .iter()
        .flat_map(|r| {
            let r = r.replace('*', "x");
            [format!("{dir}{r}"), format!("{dir}{r}/x")]
        })
        .collect()
}

/// The literal directory part of a pattern (`config/` of `config/*.json`), empty when it has
/// wildcards or no directory.
fn literal_dir(pattern: &str) -> String {
    match pattern.rsplit_once('/') {
        Some((dir, _)) if !dir.contains(['*', '?', '[', '\\']) => format!("{dir}/"),
        _ => String::new(),
    }
}

/// A path the pattern matches, wildcards filled in; none for character classes and escapes.
fn instance(pattern: &str) -> Option<String> {
    (!pattern.contains(['[', '\\'])).then(|| {
        pattern
            .replace("**/", "")
            .replace("**", "x")
            .replace(['*', '?'], "x")
    })
}

/// True when lines `a` and `b` (either may be a `!` exception) can match a common path, as far
/// as filling in their wildcards shows; unreadable patterns count as overlapping.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('!'), b.trim_start_matches('!'));
    let (Ok(ma), Ok(mb)) = (
        DockerIgnore::from_patterns([a]),
        DockerIgnore::from_patterns([b]),
    ) else {
        return true;
    };
    match (instance(a), instance(b)) {
        (Some(ia), Some(ib)) => mb.is_excluded(&ia) || ma.is_excluded(&ib),
        _ => true,
    }
}

/// True when the exception `pattern` (without its `!`) names a credential file itself: a path
/// it matches directly (not only through a parent directory) is one imggen keeps out.
fn reincludes_secret(pattern: &str, matcher: &DockerIgnore) -> bool {
    let mut candidates = secret_samples(&literal_dir(pattern));
    candidates.extend(instance(pattern));
    candidates.iter().any(|c| {
        let parent = c.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        crate::secrets::is_secret(c)
            && matcher.is_excluded(c)
            && (parent.is_empty() || !matcher.is_excluded(parent))
    })
}

/// Filters the user's `rules` against imggen's own `.dockerignore` patterns (`ours`) and the
/// paths the build needs: invalid lines, exceptions that name a secret and exclusions of a
/// build input are dropped with a warning; repeats and lines that only restate one of imggen's
/// are dropped silently. The last copy of a repeated line is the one kept, as Docker reads them.
pub fn filter(rules: &[String], ours: &[String], model: &ProjectModel, plan: &ImagePlan) -> Kept {
    let needed = needed_paths(model, plan);
    let mut kept: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    for rule in rules {
        let rule = &writable(rule);
        let (exception, pattern) = match rule.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, rule.as_str()),
        };
        let matcher = DockerIgnore::from_patterns([pattern]);
        let (Ok(matcher), false) = (matcher, pattern.is_empty()) else {
            warnings.push(format!(
                ".dockerignore: dropped `{rule}` from your rules: Docker rejects the pattern"
            ));
            continue;
        };
        if exception && reincludes_secret(pattern, &matcher) {
            warnings.push(format!(
                ".dockerignore: dropped `{rule}` from your rules: it would put credential files in the build context, which imggen keeps out (rename the file or pass the value at run time)"
            ));
            continue;
        }
        if !exception {
            if let Some(p) = needed.iter().find(|p| matcher.is_excluded(p)) {
                warnings.push(format!(
                    ".dockerignore: dropped `{rule}` from your rules: it excludes {p}, which the Dockerfile needs to build the image"
                ));
                continue;
            }
        }
        kept.retain(|k| k != rule);
        kept.push(rule.clone());
    }
    // A line that restates one of imggen's changes nothing unless a line of the other kind that
    // can match the same paths (imggen's or an earlier kept one) comes between the two.
    let mut lines: Vec<String> = Vec::new();
    for rule in kept {
        let exception = rule.starts_with('!');
        let flipped = lines
            .iter()
            .chain(ours)
            .any(|l| l.starts_with('!') != exception && overlap(l, &rule));
        if !flipped && ours.contains(&rule) {
            continue;
        }
        lines.push(rule);
    }
    Kept { lines, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(p: &str) -> DockerIgnore {
        DockerIgnore::from_patterns([p]).unwrap()
    }

    #[test]
    fn exceptions_naming_secrets_are_caught_and_others_are_not() {
        for p in [
            ".env",
            ".env.production",
            "*",
            "config/*.json",
            "secrets",
            "deploy/id_rsa",
            "**/*.pem",
            "docs/**",
        ] {
            assert!(reincludes_secret(p, &matcher(p)), "{p}");
        }
        for p in ["src", "*.md", "docs", ".env.example", "static/app.js"] {
            assert!(!reincludes_secret(p, &matcher(p)), "{p}");
        }
    }

    #[test]
    fn the_kept_section_is_read_back_from_a_generated_file() {
        let text = format!(
            "# Generated by imggen\n/target\n{KEPT_HEADING}: edit here.\n*.md\n!README.md\n{SECRETS_AGAIN}, so...\n**/.env\n"
        );
        assert_eq!(user_rules(&text), vec!["*.md", "!README.md"]);
        assert_eq!(
            user_rules("# mine\n/docs\n\n!docs/a\n"),
            vec!["docs", "!docs/a"]
        );
    }

    /// The axum-single fixture's model and image plan.
    fn axum_single() -> (ProjectModel, ImagePlan) {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axum-single");
        let model = crate::analyze::analyze(&root).unwrap();
        let plan = crate::plan::image(&model, &crate::config::Config::default())
            .unwrap()
            .0;
        (model, plan)
    }

    #[test]
    fn invalid_and_comment_like_rules_stay_valid_and_stable() {
        let (model, plan) = axum_single();
        let rules = read_patterns("!\n  #notes\n[\n");
        let kept = filter(&rules, &[], &model, &plan);
        assert_eq!(kept.lines, vec!["\\#notes"]);
        assert_eq!(kept.warnings.len(), 2, "{:?}", kept.warnings);
        let again = filter(&read_patterns(&kept.lines.join("\n")), &[], &model, &plan);
        assert_eq!(again.lines, kept.lines);
        assert!(DockerIgnore::try_parse(&kept.lines.join("\n")).is_ok());
    }

    #[test]
    fn a_restated_rule_is_kept_when_one_of_imggens_exceptions_lies_between() {
        let (model, plan) = axum_single();
        let ours = crate::secrets::dockerignore_lines();
        let rules: Vec<String> = vec!["**/.env.*".into(), "**/.env".into()];
        // `**/.env.*` re-excludes `.env.example` after imggen's `!**/.env.example`.
        assert_eq!(
            filter(&rules, &ours, &model, &plan).lines,
            vec!["**/.env.*"]
        );
    }

    #[test]
    fn overlap_follows_the_filled_in_paths() {
        assert!(!overlap("!README.md", "target"));
        assert!(overlap("!target/keep", "target"));
        assert!(overlap("!docs/x.md", "*.md") || overlap("!docs/x.md", "**/*.md"));
        assert!(overlap("![ab]", "target"));
    }
}

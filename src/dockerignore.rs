//! `.dockerignore` matching with Docker's exact semantics, as a pure matcher (no IO).
//!
//! This ports two pieces of moby code so that `imggen` sends the same build context Docker would:
//!
//! * the ignore-file reader (`moby/patternmatcher/ignorefile.ReadAll`, formerly
//!   `builder/dockerignore`): a UTF-8 BOM is stripped, lines *starting* with `#` are comments,
//!   every other line is trimmed, empty lines are dropped, a leading `!` marks an exception, and
//!   the rest is cleaned with Go's `filepath.Clean` with one leading `/` removed;
//! * the matcher (`moby/patternmatcher.New` + `MatchesOrParentMatches`): patterns are validated
//!   with Go's `filepath.Match` syntax, compiled the way Docker compiles them (exact, prefix,
//!   suffix or regular-expression matching, `**` spanning directories), evaluated in order with
//!   the last matching line winning, and a pattern that matches any parent directory of a path
//!   matches the path too.
//!
//! Matching follows `MatchesOrParentMatches` (which Docker's classic builder uses).
//! BuildKit's walker uses the incremental `MatchesUsingParentResults`, which differs only in rare
//! orderings where an exception names a parent of an earlier exclusion (`a/b` then `!a`: here
//! `a/b` is re-included, BuildKit keeps it excluded).
//!
//! Known deliberate deviations, all for patterns nobody writes on purpose: inside a `[...]` class
//! `*` and `?` are literal members (Docker splices regex fragments there), and a backslash before
//! a letter or digit is a literal escape (Docker hands `\d`, `\w`, ... to Go's regexp engine).

use std::fmt;

/// A parsed `.dockerignore`: an ordered list of exclusion and exception (`!`) patterns.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

/// An invalid `.dockerignore` pattern, with its 1-based line so users can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based line number in the ignore file (0 when the pattern did not come from a file).
    pub line: usize,
    /// The pattern as Docker saw it after reading and cleaning.
    pub pattern: String,
    /// Why Docker would reject it.
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                ".dockerignore line {}: invalid pattern {:?}: {}",
                self.line, self.pattern, self.reason
            )
        } else {
            write!(f, "invalid pattern {:?}: {}", self.pattern, self.reason)
        }
    }
}

impl std::error::Error for PatternError {}

/// One compiled pattern line.
#[derive(Debug, Clone)]
struct Pattern {
    /// True for `!` lines, which re-include what they match.
    exception: bool,
    /// The cleaned pattern text without the `!`.
    text: String,
    /// How Docker decided to match it.
    kind: Kind,
}

/// Docker's four match strategies (`exactMatch`, `prefixMatch`, `suffixMatch`, `regexpMatch`).
#[derive(Debug, Clone)]
enum Kind {
    /// No wildcards: the path must equal the pattern.
    Exact(String),
    /// Literal text followed by a trailing `**`: the path must start with the text.
    Prefix(String),
    /// A leading `**` followed by literal text: the path must end with the text.
    Suffix(String),
    /// Anything else: an anchored regular expression, kept as a token program.
    Regex(Vec<Tok>),
}

/// The regex fragments Docker's compiler emits, as tokens for a small NFA.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// One literal character.
    Lit(char),
    /// `?` -> `[^/]`.
    NotSep,
    /// `*` -> `[^/]*`.
    NotSepStar,
    /// Inner `**` -> `(.*/)?` (`.` never matches `\n` in Go regexp).
    DirStar,
    /// Trailing `**` in regex mode -> `.*`.
    AnyStar,
    /// `[...]`, possibly negated with `^`; negated classes match `/` and `\n`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// An unescaped `^` reaches Go's regexp as a start-of-text anchor.
    Anchor,
}

impl Tok {
    /// Whether this single-character token accepts `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Tok::Lit(l) => *l == c,
            Tok::NotSep | Tok::NotSepStar => c != '/',
            Tok::AnyStar | Tok::DirStar => c != '\n',
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Tok::Anchor => false,
        }
    }
}

/// The pattern matcher's state set: `plain[t]` = about to match token `t` (`t == len` accepts),
/// `inside[t]` = inside the `.*` of a `(.*/)?` group at token `t`.
struct States {
    plain: Vec<bool>,
    inside: Vec<bool>,
}

impl States {
    fn new(n: usize) -> Self {
        States {
            plain: vec![false; n + 1],
            inside: vec![false; n + 1],
        }
    }

    fn any_alive(&self) -> bool {
        self.plain.iter().chain(&self.inside).any(|&b| b)
    }
}

/// Add `t` and everything reachable from it without consuming input at text position `pos`.
fn add_state(toks: &[Tok], st: &mut States, t: usize, pos: usize) {
    if st.plain[t] {
        return;
    }
    st.plain[t] = true;
    match toks.get(t) {
        Some(Tok::NotSepStar) | Some(Tok::AnyStar) => add_state(toks, st, t + 1, pos),
        Some(Tok::DirStar) => {
            st.inside[t] = true;
            add_state(toks, st, t + 1, pos);
        }
        Some(Tok::Anchor) if pos == 0 => add_state(toks, st, t + 1, pos),
        _ => {}
    }
}

/// Run the token program over `text`, returning the states alive at its end.
fn run(toks: &[Tok], text: &str) -> States {
    let n = toks.len();
    let mut cur = States::new(n);
    add_state(toks, &mut cur, 0, 0);
    for (pos, c) in text.chars().enumerate() {
        let mut next = States::new(n);
        for t in 0..n {
            if cur.inside[t] && c != '\n' {
                next.inside[t] = true;
                if c == '/' {
                    add_state(toks, &mut next, t + 1, pos + 1);
                }
            }
            if !cur.plain[t] {
                continue;
            }
            match &toks[t] {
                Tok::NotSepStar | Tok::AnyStar if toks[t].accepts(c) => {
                    // Stay on the star (its closure re-adds t + 1).
                    add_state(toks, &mut next, t, pos + 1);
                }
                Tok::Lit(_) | Tok::NotSep | Tok::Class { .. } if toks[t].accepts(c) => {
                    add_state(toks, &mut next, t + 1, pos + 1);
                }
                _ => {}
            }
        }
        if !next.any_alive() {
            return next;
        }
        cur = next;
    }
    cur
}

impl Pattern {
    /// Docker's `Pattern.match`: does this pattern match exactly this (slash-separated) path?
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(s) => path == s,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..])
            }
            Kind::Regex(toks) => run(toks, path).plain[toks.len()],
        }
    }

    /// Could this pattern match some path `dir/<non-empty rest>`? Never false when it could.
    fn can_match_below(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        match &self.kind {
            Kind::Exact(s) => s.len() > dir_slash.len() && s.starts_with(&dir_slash),
            Kind::Prefix(p) => dir_slash.starts_with(p.as_str()) || p.starts_with(&dir_slash),
            // Some descendant name can always end with the suffix.
            Kind::Suffix(_) => true,
            Kind::Regex(toks) => {
                let st = run(toks, &dir_slash);
                let n = toks.len();
                st.inside.iter().any(|&b| b) || st.plain[..n].iter().any(|&b| b)
            }
        }
    }
}

/// Go's `path.Clean` / `filepath.Clean` on Unix: lexical shortest equivalent path.
fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|last| *last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned (`"."` when there is none).
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// Read one `filepath.Match`-style escaped character inside a class (Go's `getEsc`).
fn get_esc(chars: &[char], pos: &mut usize) -> Result<char, String> {
    let bad = || "malformed character class".to_string();
    let mut c = *chars.get(*pos).ok_or_else(bad)?;
    if c == '-' || c == ']' {
        return Err(bad());
    }
    if c == '\\' {
        *pos += 1;
        c = *chars.get(*pos).ok_or_else(bad)?;
    }
    *pos += 1;
    if *pos >= chars.len() {
        return Err("unterminated character class".to_string());
    }
    Ok(c)
}

/// Parse a `[...]` class starting just after the `[`, with `filepath.Match` syntax rules.
fn parse_class(chars: &[char], pos: &mut usize) -> Result<Tok, String> {
    let negated = chars.get(*pos) == Some(&'^');
    if negated {
        *pos += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*pos) == Some(&']') && !ranges.is_empty() {
            *pos += 1;
            break;
        }
        let lo = get_esc(chars, pos)?;
        let mut hi = lo;
        if chars.get(*pos) == Some(&'-') {
            *pos += 1;
            hi = get_esc(chars, pos)?;
        }
        if hi < lo {
            // filepath.Match accepts this, but Docker's regexp compilation rejects it.
            return Err(format!("invalid character class range {lo}-{hi}"));
        }
        ranges.push((lo, hi));
    }
    Ok(Tok::Class { negated, ranges })
}

/// Docker's `Pattern.compile` plus the `filepath.Match` syntax check done in `New`.
fn compile(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum Mode {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut mode = Mode::Exact;
    let mut pos = 0;
    let mut iteration = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                // `**/` is treated as `**`.
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos == chars.len() {
                    // Trailing `**` accepts everything, like .gitignore.
                    if mode == Mode::Exact {
                        mode = Mode::Prefix;
                    } else {
                        toks.push(Tok::AnyStar);
                        mode = Mode::Regex;
                    }
                } else {
                    toks.push(Tok::DirStar);
                    mode = Mode::Regex;
                }
                if iteration == 0 {
                    mode = Mode::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::NotSepStar);
                mode = Mode::Regex;
            }
            '?' => {
                toks.push(Tok::NotSep);
                mode = Mode::Regex;
            }
            '\\' => {
                let escaped = *chars.get(pos).ok_or("trailing backslash")?;
                pos += 1;
                toks.push(Tok::Lit(escaped));
                mode = Mode::Regex;
            }
            '[' => {
                toks.push(parse_class(&chars, &mut pos)?);
                mode = Mode::Regex;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                mode = Mode::Regex;
            }
            '^' => toks.push(Tok::Anchor),
            c => toks.push(Tok::Lit(c)),
        }
        iteration += 1;
    }
    Ok(match mode {
        Mode::Exact => Kind::Exact(pattern.to_string()),
        Mode::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Mode::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Mode::Regex => Kind::Regex(toks),
    })
}

/// Docker's ignore-file reader, keeping each pattern's 1-based line number.
fn read_numbered(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if idx == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        // Comments are detected before trimming: "  # x" is a pattern.
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = go_clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push((idx + 1, cleaned));
    }
    out
}

/// Read `.dockerignore` text into Docker's cleaned pattern list (exceptions keep their `!`).
pub fn read_patterns(text: &str) -> Vec<String> {
    read_numbered(text).into_iter().map(|(_, p)| p).collect()
}

/// Docker's `patternmatcher.New` for one pattern string.
fn new_pattern(raw: &str, line: usize) -> Result<Option<Pattern>, PatternError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let mut p = go_clean(trimmed);
    let err = |pattern: &str, reason: String| PatternError {
        line,
        pattern: pattern.to_string(),
        reason,
    };
    let exception = p.starts_with('!');
    if exception {
        if p.len() == 1 {
            return Err(err(&p, "illegal exclusion pattern \"!\"".to_string()));
        }
        p.remove(0);
    }
    let kind = compile(&p).map_err(|reason| err(raw, reason))?;
    Ok(Some(Pattern {
        exception,
        text: p,
        kind,
    }))
}

impl DockerIgnore {
    /// Parse `.dockerignore` text, silently dropping patterns Docker would reject as invalid.
    pub fn parse(text: &str) -> DockerIgnore {
        let patterns = read_numbered(text)
            .into_iter()
            .filter_map(|(line, p)| new_pattern(&p, line).ok().flatten())
            .collect();
        DockerIgnore { patterns }
    }

    /// Parse `.dockerignore` text, failing on the first pattern Docker would reject.
    pub fn try_parse(text: &str) -> Result<DockerIgnore, PatternError> {
        let mut patterns = Vec::new();
        for (line, p) in read_numbered(text) {
            patterns.extend(new_pattern(&p, line)?);
        }
        Ok(DockerIgnore { patterns })
    }

    /// Build a matcher from already-read patterns (Docker's `patternmatcher.New`), e.g. CLI input.
    pub fn from_patterns<S: AsRef<str>>(
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<DockerIgnore, PatternError> {
        let mut out = Vec::new();
        for p in patterns {
            out.extend(new_pattern(p.as_ref(), 0)?);
        }
        Ok(DockerIgnore { patterns: out })
    }

    /// The cleaned patterns in order, exceptions prefixed with `!` (for display and debugging).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    /// True if any `!` exception pattern exists (otherwise excluded dirs can always be pruned).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether the context-relative slash path is excluded (Docker's `MatchesOrParentMatches`).
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = go_clean(rel_path);
        if path == "." {
            // Docker refuses to exclude the context root itself.
            return false;
        }
        let rel_path = path.as_str();
        let parent = go_dir(rel_path);
        let parents: Vec<String> = if parent == "." {
            Vec::new()
        } else {
            let dirs: Vec<&str> = parent.split('/').collect();
            (1..=dirs.len()).map(|i| dirs[..i].join("/")).collect()
        };
        let mut matched = false;
        for p in &self.patterns {
            // An exclusion cannot change an excluded path, nor an exception an included one.
            if p.exception != matched {
                continue;
            }
            if p.matches(rel_path) || parents.iter().any(|d| p.matches(d)) {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether an exception could re-include something below `dir`, so an excluded dir must still be walked.
    pub fn may_contain_exceptions_under(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        if dir.is_empty() || dir == "." {
            return self.has_exceptions();
        }
        self.patterns
            .iter()
            .any(|p| p.exception && p.can_match_below(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `text` strictly and report whether `path` is excluded.
    fn excluded(text: &str, path: &str) -> bool {
        DockerIgnore::try_parse(text)
            .expect("valid patterns")
            .is_excluded(path)
    }

    /// A single pattern against a single path, like moby's `TestMatches` table.
    fn single(pattern: &str, path: &str) -> bool {
        DockerIgnore::from_patterns([pattern])
            .expect("valid pattern")
            .is_excluded(path)
    }

    #[test]
    fn docs_star_slash_temp_matches_one_level_down() {
        let ig = "# comment\n*/temp*\n";
        assert!(excluded(ig, "somedir/temporary.txt"));
        assert!(excluded(ig, "somedir/temp"));
        assert!(excluded(ig, "somedir/temp/inner.txt"));
        assert!(!excluded(ig, "temporary.txt"));
        assert!(!excluded(ig, "a/b/temp"));
    }

    #[test]
    fn docs_two_levels_temp() {
        let ig = "*/*/temp*";
        assert!(excluded(ig, "somedir/subdir/temporary.txt"));
        assert!(!excluded(ig, "somedir/temporary.txt"));
        assert!(!excluded(ig, "temporary.txt"));
    }

    #[test]
    fn docs_question_mark_is_one_char() {
        let ig = "temp?";
        assert!(excluded(ig, "tempa"));
        assert!(excluded(ig, "tempb"));
        assert!(!excluded(ig, "temp"));
        assert!(!excluded(ig, "tempab"));
        assert!(!excluded(ig, "dir/tempa"));
        assert!(!single("a?c", "a/c"));
    }

    #[test]
    fn docs_double_star_go_files_everywhere() {
        let ig = "**/*.go";
        assert!(excluded(ig, "main.go"));
        assert!(excluded(ig, "a/b/c.go"));
        assert!(!excluded(ig, "a/b/c.rs"));
        assert!(!excluded(ig, "a/b/c.gox"));
    }

    #[test]
    fn docs_markdown_with_readme_exception() {
        let ig = "*.md\n!README.md\n";
        assert!(excluded(ig, "CHANGELOG.md"));
        assert!(!excluded(ig, "README.md"));
        // `*.md` is anchored at the root.
        assert!(!excluded(ig, "docs/guide.md"));
    }

    #[test]
    fn docs_exception_then_secret_excluded_again() {
        let ig = "*.md\n!README*.md\nREADME-secret.md\n";
        assert!(excluded(ig, "README-secret.md"));
        assert!(!excluded(ig, "README-public.md"));
        assert!(!excluded(ig, "README.md"));
        assert!(excluded(ig, "other.md"));
    }

    #[test]
    fn docs_last_line_wins_reincludes_secret() {
        let ig = "*.md\nREADME-secret.md\n!README*.md\n";
        assert!(!excluded(ig, "README-secret.md"));
        assert!(!excluded(ig, "README.md"));
        assert!(excluded(ig, "other.md"));
    }

    #[test]
    fn exception_before_exclusion_has_no_effect() {
        assert!(excluded("!fileutils.go\n*.go\n", "fileutils.go"));
    }

    #[test]
    fn exception_reincludes_file_in_excluded_dir() {
        for ig in [
            "docs\n!docs/README.md",
            "docs/\n!docs/README.md",
            "docs/*\n!docs/README.md",
        ] {
            assert!(!excluded(ig, "docs/README.md"), "{ig}");
            assert!(excluded(ig, "docs/other.md"), "{ig}");
        }
    }

    #[test]
    fn exception_on_dir_reincludes_children_unless_excluded_later() {
        let ig = "**\n!util/docker/web\n";
        assert!(!excluded(ig, "util/docker/web/foo"));
        assert!(excluded(ig, "util/docker/other"));
        let ig2 = "**\n!util/docker/web\nutil/docker/web/foo\n";
        assert!(excluded(ig2, "util/docker/web/foo"));
        assert!(!excluded(ig2, "util/docker/web/bar"));
    }

    #[test]
    fn leading_slash_and_dot_slash_are_root_relative() {
        for ig in [
            "/foo/bar",
            "./foo/bar",
            "foo/bar/",
            "foo//bar",
            "foo/x/../bar",
        ] {
            assert!(excluded(ig, "foo/bar"), "{ig}");
            assert!(excluded(ig, "foo/bar/baz"), "{ig}");
            assert!(!excluded(ig, "x/foo/bar"), "{ig}");
        }
        assert!(!excluded("! /foo\n", "foo"));
    }

    #[test]
    fn directory_exclusion_excludes_children_only_at_root() {
        let ig = "target";
        assert!(excluded(ig, "target"));
        assert!(excluded(ig, "target/debug/build/big.rlib"));
        assert!(!excluded(ig, "crates/a/target"));
        assert!(!excluded(ig, "targets"));
    }

    #[test]
    fn reader_matches_moby_read_all() {
        let text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! \n";
        assert_eq!(
            read_patterns(text),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
    }

    #[test]
    fn reader_comments_whitespace_crlf_and_bom() {
        let text = "\u{feff}# bom comment\r\n  spaced  \r\n\t\r\n  # not a comment\r\nlast";
        assert_eq!(read_patterns(text), ["spaced", "# not a comment", "last"]);
        assert!(excluded(text, "spaced"));
        assert!(excluded(text, "# not a comment"));
        assert!(!excluded(text, "# bom comment"));
    }

    #[test]
    fn reader_cleans_like_go() {
        let text = "./foo/\na//b\na/../b\n/\n.\n../up\n!./keep/\n";
        assert_eq!(
            read_patterns(text),
            ["foo", "a/b", "b", "/", ".", "../up", "!keep"]
        );
    }

    #[test]
    fn double_star_alone_matches_everything() {
        for path in ["file", "dir/file", "dir/file/", "/", ".hidden"] {
            assert!(single("**", path), "{path}");
            assert!(single("**/", path), "{path}");
            assert!(single("**/**", path), "{path}");
        }
    }

    #[test]
    fn double_star_at_start() {
        assert!(single("**/dir", "dir"));
        assert!(single("**/dir", "dir/file"));
        assert!(single("**/dir", "a/b/dir/file"));
        assert!(single("**/foo/bar", "foo/bar"));
        assert!(single("**/foo/bar", "dir/dir2/foo/bar"));
        assert!(single("**/.foo", ".foo"));
        assert!(!single("**/.foo", "bar.foo"));
        assert!(single("**/*.txt", "file.txt"));
        assert!(single("**/**/*.txt", "dir/dir/file.txt"));
        assert!(!single("**/**/*.txt2", "dir/dir/file.txt"));
        assert!(single("**/file*.txt*", "dir/dir/file.txt"));
    }

    #[test]
    fn double_star_in_middle() {
        assert!(single("a/**/b", "a/b"));
        assert!(single("a/**/b", "a/x/b"));
        assert!(single("a/**/b", "a/x/y/b"));
        assert!(!single("a/**/b", "ab"));
        assert!(!single("a/**/b", "a/x/bc"));
        assert!(single("**/dir2/*", "dir/dir2/file"));
        assert!(single("a**/*.txt", "a/file.txt"));
        assert!(single("a**/*.txt", "a/dir/dir/file.txt"));
    }

    #[test]
    fn double_star_at_end() {
        assert!(!single("abc/**", "abc"));
        assert!(single("abc/**", "abc/def"));
        assert!(single("abc/**", "abc/def/ghi"));
        assert!(single("a/*.txt**", "a/file.txt"));
        assert!(single("**/dir2/**", "dir/dir2/dir3/file"));
    }

    #[test]
    fn double_star_prefix_and_suffix_quirks_match_docker() {
        // Docker compiles these to plain string prefix/suffix tests.
        assert!(single("**file", "file"));
        assert!(single("**file", "dir/dir/file"));
        assert!(single("**file", "profile"));
        assert!(single("a**", "abc"));
        assert!(single("a**", "a/b"));
    }

    #[test]
    fn single_star_stays_within_a_segment() {
        assert!(single("a/*.txt", "a/file.txt"));
        assert!(!single("a/*.txt", "a/dir/file.txt"));
        assert!(!single("a*b", "a/b"));
        assert!(single(".*", ".foo"));
        assert!(!single(".*", "foo"));
        // `*` matches the parent dir `a`, so everything below it is excluded.
        assert!(single("*", "a/b"));
    }

    #[test]
    fn character_classes() {
        assert!(!single("a[b-d]e", "ae"));
        assert!(single("a[b-d]e", "ace"));
        assert!(!single("a[b-d]e", "aae"));
        assert!(single("a[^b-d]e", "aze"));
        assert!(!single("a[^b-d]e", "ace"));
        // Go uses `^` for negation; `!` is an ordinary member.
        assert!(single("[!a]x", "!x"));
        assert!(single("[!a]x", "ax"));
        assert!(!single("[!a]x", "bx"));
        assert!(single("x[\\]]", "x]"));
        assert!(single("x[\\-a]", "x-"));
        assert!(single("[a-c][0-9]", "b7"));
        assert!(single("ü[ä-ö]", "üé"));
    }

    #[test]
    fn escapes_and_regex_metacharacters_are_literal() {
        assert!(single("a\\*b", "a*b"));
        assert!(!single("a\\*b", "axb"));
        assert!(single("a\\\\", "a\\"));
        assert!(single("\\[x\\]", "[x]"));
        assert!(single("\\#file", "#file"));
        assert!(single("abc.def", "abc.def"));
        assert!(!single("abc.def", "abcZdef"));
        assert!(single("abc?def", "abcZdef"));
        assert!(!single("abc?def", "abcdef"));
        assert!(single("a(b)c/def", "a(b)c/def"));
        assert!(!single("a(b)c/def", "a(b)c/xyz"));
        assert!(single("a.|)$(}+{bc", "a.|)$(}+{bc"));
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        assert!(single(whl, whl));
        assert!(single("dist/*.whl", whl));
        assert!(!excluded(&format!("**\n!{whl}"), whl));
        assert!(!excluded("**\n!dist/*.whl", whl));
    }

    #[test]
    fn caret_is_literal_when_exact_and_an_anchor_in_regex_mode() {
        assert!(single("^a", "^a"));
        assert!(single("^a*", "abc"));
        assert!(!single("x^a*", "x^abc"));
    }

    #[test]
    fn invalid_patterns_are_rejected_strictly_and_dropped_leniently() {
        for bad in ["[", "a[]", "a[b-]", "[z-a]", "a\\", "!", "! ", "!/"] {
            let err = DockerIgnore::try_parse(&format!("ok\n{bad}\n")).unwrap_err();
            assert_eq!(err.line, 2, "{bad}");
            let lenient = DockerIgnore::parse(&format!("ok\n{bad}\n"));
            assert_eq!(lenient.patterns(), ["ok"], "{bad}");
        }
    }

    #[test]
    fn empty_and_comment_only_files_exclude_nothing() {
        let ig = DockerIgnore::parse("# nothing\n\n   \n");
        assert!(ig.patterns().is_empty());
        assert!(!ig.is_excluded("anything"));
        assert!(!ig.has_exceptions());
    }

    #[test]
    fn patterns_round_trip_for_display() {
        let ig = DockerIgnore::parse("/target/\n!target/keep\n");
        assert_eq!(ig.patterns(), ["target", "!target/keep"]);
        assert!(ig.has_exceptions());
    }

    #[test]
    fn may_contain_exceptions_under_prunes_precisely() {
        let none = DockerIgnore::parse("target\n");
        assert!(!none.may_contain_exceptions_under("target"));

        let exact = DockerIgnore::parse("target\n!target/keep.txt\n");
        assert!(exact.may_contain_exceptions_under("target"));
        assert!(exact.may_contain_exceptions_under("target/"));
        assert!(!exact.may_contain_exceptions_under("other"));
        assert!(!exact.may_contain_exceptions_under("target/keep.txt"));

        let anywhere = DockerIgnore::parse("target\n!**/keep.txt\n");
        assert!(anywhere.may_contain_exceptions_under("target"));
        assert!(anywhere.may_contain_exceptions_under("x/y"));

        let root_only = DockerIgnore::parse("*\n!*.md\n");
        assert!(!root_only.may_contain_exceptions_under("target"));

        let glob = DockerIgnore::parse("docs\n!docs/*.md\n");
        assert!(glob.may_contain_exceptions_under("docs"));
        assert!(!glob.may_contain_exceptions_under("src"));
        assert!(!glob.may_contain_exceptions_under("docs/sub"));

        let prefix = DockerIgnore::parse("*\n!foo/**\n");
        assert!(prefix.may_contain_exceptions_under("foo"));
        assert!(prefix.may_contain_exceptions_under("foo/bar"));
        assert!(!prefix.may_contain_exceptions_under("fo"));

        assert!(prefix.may_contain_exceptions_under(""));
        assert!(!none.may_contain_exceptions_under("."));
    }

    #[test]
    fn pruning_never_hides_an_included_path() {
        // Brute force: whenever a dir is excluded and pruning is allowed, nothing below may be included.
        let files = [
            "a/b/c.txt",
            "a/b/keep.md",
            "a/keep.md",
            "a/x/y/z.go",
            "target/debug/keep.txt",
            "target/debug/app",
            "docs/README.md",
            "docs/sub/README.md",
            "foo/bar/baz",
            "profile",
        ];
        let ignores = [
            "a\n!a/b/keep.md",
            "**\n!**/keep.md",
            "*\n!*.md",
            "target\n!target/*/keep.txt",
            "docs\n!docs/*.md",
            "*\n!foo/**",
            "**\n!**file",
            "a/**\n!a/[bx]/*",
            "**/b\n!a?b/c.txt\n!a/?/c.txt",
            "*\n!a\na/x",
            "**\n!**/y/**",
        ];
        for text in ignores {
            let ig = DockerIgnore::try_parse(text).unwrap();
            for file in files {
                let segs: Vec<&str> = file.split('/').collect();
                for depth in 1..segs.len() {
                    let dir = segs[..depth].join("/");
                    if ig.is_excluded(&dir) && !ig.may_contain_exceptions_under(&dir) {
                        assert!(
                            ig.is_excluded(file),
                            "{text:?}: pruning {dir} hides included {file}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn paths_are_cleaned_and_root_is_never_excluded() {
        assert!(excluded("foo", "foo/"));
        assert!(excluded("foo", "./foo"));
        assert!(excluded("foo/bar", "foo//bar"));
        assert!(!excluded("**", "."));
        assert!(!excluded("**", ""));
        // A later exception naming a parent re-includes (MatchesOrParentMatches semantics).
        assert!(!excluded("a/b\n!a\n", "a/b"));
    }

    #[test]
    fn go_clean_and_dir_follow_go() {
        assert_eq!(go_clean(""), ".");
        assert_eq!(go_clean("a/b/../../.."), "..");
        assert_eq!(go_clean("/../a"), "/a");
        assert_eq!(go_clean("a/./b/"), "a/b");
        assert_eq!(go_dir("a/b/c"), "a/b");
        assert_eq!(go_dir("a"), ".");
        assert_eq!(go_dir("a/b/"), "a/b");
    }
}

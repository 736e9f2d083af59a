//! `--write-digest`: records the pushed digest as `[image] digest` in imggen.toml (comments and
//! layout kept), then refreshes the generated files that change because of it (deploy files
//! that pin `name@digest`), leaving alone any file the user has edited.

use super::Digest;
use crate::config::FILE_NAME;
use crate::output;
use crate::pipeline::{self, Loaded};
use crate::template::GeneratedFile;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Sets `[image] digest` in the imggen.toml text, keeping everything else as written.
pub fn set_digest(text: &str, digest: &Digest) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .context("imggen.toml is not valid TOML; fix it and push again")?;
    let image = doc
        .entry("image")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = image.as_table_like_mut() else {
        bail!("imggen.toml: `image` is not a table; make it an [image] section");
    };
    table.insert("digest", toml_edit::value(digest.0.clone()));
    Ok(doc.to_string())
}

/// Writes the digest into `<root>/imggen.toml` and rewrites the generated files it changes;
/// `before` is the project as loaded for the build. Returns the paths rewritten.
pub fn write_digest(before: &Loaded, digest: &Digest) -> Result<Vec<String>> {
    let path = before.root.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{}: not found, so the digest {digest} was not recorded; run `imggen init` first",
            path.display()
        ),
        Err(e) => bail!("{}: cannot read ({e})", path.display()),
    };
    output::write_atomic(&path, set_digest(&text, digest)?.as_bytes())?;
    let after = pipeline::load_at(&before.root, &before.path, &before.flags, true)?;
    refresh(&after.root, &before.files, &after.files)
}

/// Writes each file whose generated text changed, when disk still holds the old generated text.
fn refresh(root: &Path, before: &[GeneratedFile], after: &[GeneratedFile]) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for new in after {
        let old = before.iter().find(|f| f.path == new.path);
        if old.is_some_and(|o| o.contents == new.contents) {
            continue;
        }
        let on_disk = std::fs::read_to_string(root.join(&new.path)).ok();
        let untouched = match (old, &on_disk) {
            (Some(o), Some(d)) => *d == o.contents,
            (None, None) => true,
            _ => false,
        };
        if untouched {
            output::write_atomic(&root.join(&new.path), new.contents.as_bytes())?;
            changed.push(new.path.clone());
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest(format!("sha256:{}", "b".repeat(64)))
    }

    #[test]
    fn digest_is_added_and_comments_survive() {
        let text = "# my service\nversion = 1\nbin = \"api\" # the server\n\n[image]\n# where it goes\nname = \"ghcr.io/acme/api\"\n";
        let out = set_digest(text, &digest()).unwrap();
        assert!(
            out.starts_with("# my service\nversion = 1\nbin = \"api\" # the server\n"),
            "{out}"
        );
        assert!(
            out.contains("# where it goes\nname = \"ghcr.io/acme/api\"\n"),
            "{out}"
        );
        let parsed = crate::config::Config::parse_file(&out, "imggen.toml").unwrap();
        let image = parsed.image.unwrap();
        assert_eq!(image.digest, Some(digest().0));
        assert_eq!(
            image.pinned_ref("api").unwrap(),
            format!("ghcr.io/acme/api@{}", digest().0)
        );
        let again = set_digest(&out, &Digest("sha256:".to_string() + &"c".repeat(64))).unwrap();
        assert_eq!(again.matches("digest =").count(), 1, "{again}");
    }

    #[test]
    fn a_missing_image_section_is_created() {
        let out = set_digest("version = 1\n", &digest()).unwrap();
        assert_eq!(
            out,
            format!("version = 1\n\n[image]\ndigest = \"{}\"\n", digest().0)
        );
        let inline = set_digest("version = 1\nimage = { name = \"x\" }\n", &digest()).unwrap();
        assert!(inline.contains("digest"), "{inline}");
        assert!(set_digest("image = 3\n", &digest()).is_err());
    }

    #[test]
    fn refresh_rewrites_only_untouched_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = |p: &str, c: &str| GeneratedFile {
            path: p.into(),
            contents: c.into(),
        };
        std::fs::write(dir.path().join("fly.toml"), "old").unwrap();
        std::fs::write(dir.path().join("edited.yaml"), "mine").unwrap();
        std::fs::write(dir.path().join("same"), "same").unwrap();
        let before = [
            file("fly.toml", "old"),
            file("edited.yaml", "old"),
            file("same", "same"),
        ];
        let after = [
            file("fly.toml", "new"),
            file("edited.yaml", "new"),
            file("same", "same"),
        ];
        let changed = refresh(dir.path(), &before, &after).unwrap();
        assert_eq!(changed, ["fly.toml"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("fly.toml")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("edited.yaml")).unwrap(),
            "mine"
        );
    }
}

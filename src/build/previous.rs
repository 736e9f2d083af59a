//! The previous build's `target/`, carried through the registry beside the builder cache image.
//!
//! The builder cache image (`--cache-to REF`) gives a fresh builder the compiled dependencies,
//! but a cache mount is never exported, so every local crate would compile again there. The
//! default Dockerfile's `target-cache` stage is that build's `target/` without the cook's
//! dependencies, in a `scratch` image of its own (binding the builder-based cache image would
//! unpack the whole toolchain). `--cache-to REF` pushes it as `REF-target`; `--cache-from REF`
//! passes it as the `IMGGEN_PREVIOUS` build argument when the registry holds it, and the build
//! step fills an empty target mount from it before the dependencies.

use super::creds::Found;
use crate::oci::registry::{Client, Options};
use crate::reference::Reference;
use anyhow::Result;

/// The Dockerfile stage `--cache-to REF` pushes as `REF-target`.
pub const TARGET_STAGE: &str = "target-cache";
/// The build argument naming the previous build's image (`scratch`, empty, by default).
pub const PREVIOUS_ARG: &str = "IMGGEN_PREVIOUS";
/// What is appended to a cache image's tag to name its previous-build image.
const TAG_SUFFIX: &str = "-target";

/// `REF-target`: the cache image's tag (or `latest`) with [`TAG_SUFFIX`].
pub fn target_ref(cache: &Reference) -> Reference {
    let tag = cache.tag.as_deref().unwrap_or("latest");
    cache.with_tag(&format!("{tag}{TAG_SUFFIX}"))
}

/// True when the Dockerfile declares the [`PREVIOUS_ARG`] argument.
pub fn declared(dockerfile: &str) -> bool {
    dockerfile.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("ARG"))
            && words
                .next()
                .is_some_and(|w| w.split('=').next() == Some(PREVIOUS_ARG))
    })
}

/// The first `REF-target` of the tagged `--cache-from` images that the registry holds, with
/// the credentials found for each image's registry; None when none does.
pub async fn find(
    cache_from: &[Reference],
    credentials: &[(Reference, Found)],
) -> Result<Option<Reference>> {
    for cache in cache_from.iter().filter(|r| r.digest.is_none()) {
        let wanted = target_ref(cache);
        let found = credentials
            .iter()
            .find(|(r, _)| r.registry == cache.registry)
            .map(|(_, f)| f);
        let client = Client::new(
            &wanted.registry,
            super::attach::auth(found),
            Options::default(),
        )?;
        let tag = wanted.tag.as_deref().unwrap_or_default();
        if client.has_manifest(&wanted.repository, tag).await? {
            return Ok(Some(wanted));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_build_is_the_cache_tag_with_a_suffix() {
        let r = |s: &str| Reference::parse(s).unwrap();
        assert_eq!(
            target_ref(&r("127.0.0.1:5000/app:buildcache")),
            r("127.0.0.1:5000/app:buildcache-target")
        );
        assert_eq!(
            target_ref(&r("ghcr.io/o/app")),
            r("ghcr.io/o/app:latest-target")
        );
    }

    #[test]
    fn only_an_arg_line_declares_the_previous_build() {
        assert!(declared("# x\nARG IMGGEN_PREVIOUS=scratch\nFROM a\n"));
        assert!(declared("arg IMGGEN_PREVIOUS\n"));
        assert!(!declared("FROM ${IMGGEN_PREVIOUS} AS previous\n"));
        assert!(!declared("ARG IMGGEN_PREVIOUS_X=1\n"));
    }
}

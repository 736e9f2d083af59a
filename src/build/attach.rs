//! The SBOM of a pushed image: the SPDX document of the binary's dependency closure
//! (`crate::sbom`), attached through the registry protocol (`crate::oci::registry`) as an
//! artifact whose subject is the image, plus the `sha256-<hex>.sbom` tag.

use super::creds::{Credentials, Found};
use super::{retry::PushPolicy, Digest};
use crate::oci::registry::{Auth, Client, Options};
use crate::pipeline::Loaded;
use crate::reference::Reference;
use anyhow::{bail, Result};

/// The SPDX JSON document of the loaded project's binary, created at the epoch the oci engine
/// stamps its images with (`SOURCE_DATE_EPOCH`, else the last git commit, else 0), so the same
/// source gives the same document and the same artifact digest.
pub fn document(loaded: &Loaded) -> Result<String> {
    let Some(graph) = &loaded.model.lock_graph else {
        bail!(
            "{}: no Cargo.lock, so the image's packages are not known; run `cargo generate-lockfile` and commit Cargo.lock, or pass --no-sbom",
            loaded.root.display()
        );
    };
    let (epoch, _) = crate::compile::source_date_epoch(
        &loaded.root,
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
    )?;
    let created = crate::oci::image::created(epoch)?;
    let image = &loaded.plan.image;
    crate::sbom::spdx_json(
        graph,
        &crate::sbom::Subject {
            package: &image.package,
            bin: &image.bin,
            features: &image.cargo.features,
            no_default_features: image.cargo.no_default_features,
            created: &created,
        },
    )
}

/// The registry client's credentials for what `creds::lookup` found.
pub fn auth(found: Option<&Found>) -> Auth {
    match found.map(|f| &f.credentials) {
        None => Auth::Anonymous,
        Some(Credentials::UserPassword { username, password }) => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        Some(Credentials::IdentityToken(token)) => Auth::IdentityToken(token.clone()),
    }
}

/// Attaches `document` to the image `digest` in `reference`'s repository; returns the
/// artifact manifest's digest.
pub async fn attach(
    reference: &Reference,
    digest: &Digest,
    found: Option<&Found>,
    document: &str,
    policy: &PushPolicy,
) -> Result<String> {
    let client = Client::new(
        &reference.registry,
        auth(found),
        Options {
            pauses: policy.pauses.clone(),
            ..Options::default()
        },
    )?;
    let work = async {
        let subject = client
            .manifest_descriptor(&reference.repository, &digest.0)
            .await?;
        client
            .attach_sbom(&reference.repository, &subject, document.as_bytes())
            .await
    };
    match tokio::time::timeout(policy.timeout, work).await {
        Ok(result) => result.map_err(|e| {
            anyhow::anyhow!("attaching the SBOM to {reference}@{digest} failed: {e:#} (or pass --no-sbom)")
        }),
        Err(_) => bail!(
            "attaching the SBOM to {reference}@{digest} did not finish within {} (--push-timeout); check that {} is reachable, or pass --no-sbom",
            super::retry::show_duration(policy.timeout),
            reference.registry
        ),
    }
}

//! An apt repository on the media, regenerated from the `.deb` files that are actually there:
//! `dists/<suite>/<component>/binary-<arch>/Packages` (plain, `.gz`, `.xz`) from each package's
//! own control data, a `Release` with every index's SHA256 and size, signed as `InRelease` and
//! `Release.gpg` with the bundle's key. Nothing is copied from upstream's indexes.

use std::collections::BTreeMap;
use std::io::Write;

use crate::digest::Digest;
use crate::kinds::apt::LockedApt;
use crate::kinds::apt::deb;
use crate::media::signing::Signer;
use crate::media::tree::{MediaError, Tree};

/// The directory of one repository inside the tree.
pub fn root(name: &str) -> String {
    format!("{}/{name}", super::ROOT)
}

/// Where a pinned `.deb` goes.
pub fn deb_path(apt: &LockedApt, filename: &str) -> String {
    format!("{}/{filename}", root(&apt.name))
}

/// Writes the indexes and the signed Release of `apt`, whose `.deb` files are already in the
/// tree. Returns every file written, with its digest, for `SHA256SUMS`.
pub fn write(
    tree: &Tree,
    apt: &LockedApt,
    signer: &Signer,
) -> Result<BTreeMap<String, Digest>, MediaError> {
    let root_dir = root(&apt.name);
    let suite = apt.media_suite();
    let components = apt.media_components();
    let dists = format!("{root_dir}/dists/{suite}");
    let mut indexes: BTreeMap<(String, String), String> = BTreeMap::new();
    for component in &components {
        for architecture in &apt.architectures {
            indexes.insert((component.clone(), architecture.clone()), String::new());
        }
    }
    for deb in &apt.debs {
        let path = tree.root().join(deb_path(apt, &deb.filename));
        let control = deb::control(&path).map_err(|message| MediaError::Read {
            path: path.clone(),
            cause: std::io::Error::other(message),
        })?;
        let mut paragraph = control.clone();
        paragraph.fields.retain(|(name, _)| {
            !matches!(
                name.as_str(),
                "Filename" | "Size" | "SHA256" | "MD5sum" | "SHA1" | "SHA512"
            )
        });
        paragraph
            .fields
            .push(("Filename".to_string(), deb.filename.to_string()));
        paragraph
            .fields
            .push(("Size".to_string(), deb.size.to_string()));
        paragraph
            .fields
            .push(("SHA256".to_string(), deb.digest.hex()));
        let stanza = paragraph.render();
        for architecture in &apt.architectures {
            if (deb.architecture == *architecture || deb.architecture == "all")
                && let Some(index) = indexes.get_mut(&(deb.component.clone(), architecture.clone()))
            {
                index.push_str(&stanza);
                index.push('\n');
            }
        }
    }
    let mut written = BTreeMap::new();
    let mut release_hashes = Vec::new();
    for ((component, architecture), text) in &indexes {
        let relative = format!("{component}/binary-{architecture}/Packages");
        let variants: [(String, Vec<u8>); 3] = [
            (relative.clone(), text.as_bytes().to_vec()),
            (format!("{relative}.gz"), gzip(text.as_bytes())),
            (format!("{relative}.xz"), xz(text.as_bytes())),
        ];
        for (name, bytes) in variants {
            let path = format!("{dists}/{name}");
            tree.write_if_changed(&path, &bytes)?;
            let digest = Digest::of_bytes(&bytes);
            written.insert(path, digest);
            release_hashes.push(format!(" {} {:>16} {name}", digest.hex(), bytes.len()));
        }
    }
    let release = format!(
        "Origin: airgap\nLabel: airgap {name}\nSuite: {suite}\nCodename: {suite}\nDate: {date}\nArchitectures: {architectures}\nComponents: {components}\nDescription: {name} as pinned by airgap.lock (a subset of {url})\nSHA256:\n{hashes}\n",
        name = apt.name,
        date = apt.release_date,
        architectures = apt.architectures.join(" "),
        components = components.join(" "),
        url = apt.url,
        hashes = release_hashes.join("\n"),
    );
    let release_path = format!("{dists}/Release");
    let changed = tree.write_if_changed(&release_path, release.as_bytes())?;
    written.insert(release_path, Digest::of_bytes(release.as_bytes()));

    let detached_path = format!("{dists}/Release.gpg");
    let inline_path = format!("{dists}/InRelease");
    let current = std::fs::read(tree.root().join(&detached_path)).ok();
    let still_signed = !changed
        && tree.root().join(&inline_path).exists()
        && current.is_some_and(|signature| signer.signed(release.as_bytes(), &signature));
    if !still_signed {
        tree.write_if_changed(
            &detached_path,
            signer.sign_detached(release.as_bytes())?.as_bytes(),
        )?;
        tree.write_if_changed(&inline_path, signer.sign_cleartext(&release)?.as_bytes())?;
    }
    for path in [detached_path, inline_path] {
        let bytes = std::fs::read(tree.root().join(&path)).map_err(|source| MediaError::Read {
            path: tree.root().join(&path),
            cause: source,
        })?;
        written.insert(path, Digest::of_bytes(&bytes));
    }
    Ok(written)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let Ok(mut writer) =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6))
    else {
        return Vec::new();
    };
    let _ = writer.write_all(bytes);
    writer.finish().unwrap_or_default()
}

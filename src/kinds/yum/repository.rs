//! A yum repository on the media, regenerated from the RPM headers of the packages that are
//! actually there: `repodata/` with primary, filelists and other (gzip'd XML, rpm-md format),
//! `repomd.xml` with their checksums, signed as `repomd.xml.asc` with the bundle key. The RPM
//! files are untouched, so their own signatures still verify with the upstream key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use rpm::{Dependency, DependencyFlags, FileType, PackageMetadata};

use crate::digest::Digest;
use crate::kinds::yum::{LockedRpm, LockedYum};
use crate::media::signing::Signer;
use crate::media::tree::{MediaError, Tree};

/// The directory of one repository inside the tree.
pub fn root(name: &str) -> String {
    format!("{}/{name}", super::ROOT)
}

/// Where a pinned `.rpm` goes.
pub fn rpm_path(yum: &LockedYum, location: &str) -> String {
    format!("{}/{location}", root(&yum.name))
}

/// The upstream key, published beside the bundle key for `gpgcheck=1`.
pub fn upstream_key_path(yum: &LockedYum) -> String {
    format!("{}/yum-{}.asc", crate::media::tree::KEYS, yum.name)
}

/// Checks a package's header signature against `keys`, as rpm does for `gpgcheck=1`: one of
/// its OpenPGP signatures must verify over the header, and the header's own digests must hold
/// (the payload is covered by the file's pinned digest). Reads the lead and headers only.
pub fn check_signature(
    path: &std::path::Path,
    keys: &[pgp::composed::SignedPublicKey],
) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|error| format!("cannot be read: {error}"))?;
    let metadata = PackageMetadata::parse(&mut std::io::BufReader::new(file))
        .map_err(|error| format!("has no readable RPM header: {error}"))?;
    metadata
        .verify_digests()
        .map_err(|error| format!("has a header that does not match its digest: {error}"))?;
    let signatures = metadata
        .raw_signatures()
        .map_err(|error| format!("has an unreadable signature: {error}"))?;
    if signatures.is_empty() {
        return Err("is not signed".to_string());
    }
    let header =
        header_bytes(path).map_err(|error| format!("has an unreadable RPM header: {error}"))?;
    let mut last = String::new();
    for signature in &signatures {
        match crate::keyring::verify_detached(&header, signature, keys) {
            Ok(()) => return Ok(()),
            Err(error) => last = error.of_file("its header signature"),
        }
    }
    Err(last)
}

/// The largest RPM header read to check its signature (a kernel's is a few MiB).
const HEADER_LIMIT: u64 = 64 << 20;

/// The main header of the RPM at `path`, byte for byte as signed: after the 96-byte lead and
/// the signature header (padded to 8 bytes), 16 bytes of intro, 16 per index entry, then the
/// data store.
fn header_bytes(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let mut intro = [0u8; 16];
    let section = |intro: &[u8; 16]| -> std::io::Result<u64> {
        if intro[..3] != [0x8e, 0xad, 0xe8] {
            return Err(std::io::Error::other("no header magic"));
        }
        let count = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]) as u64;
        let store = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]) as u64;
        let size = 16 + count * 16 + store;
        if size > HEADER_LIMIT {
            return Err(std::io::Error::other("a header larger than 64 MiB"));
        }
        Ok(size)
    };
    file.seek(SeekFrom::Start(96))?;
    file.read_exact(&mut intro)?;
    let signature = section(&intro)?;
    let main = 96 + signature.div_ceil(8) * 8;
    file.seek(SeekFrom::Start(main))?;
    file.read_exact(&mut intro)?;
    let size = section(&intro)?;
    let mut header = intro.to_vec();
    (&mut file).take(size - 16).read_to_end(&mut header)?;
    if header.len() as u64 != size {
        return Err(std::io::Error::other("the header is cut short"));
    }
    Ok(header)
}

struct Entry {
    rpm: LockedRpm,
    metadata: PackageMetadata,
}

/// Writes `repodata/` for `yum`, whose packages are already in the tree. Returns every file
/// written, with its digest.
pub fn write(
    tree: &Tree,
    yum: &LockedYum,
    signer: &Signer,
) -> Result<BTreeMap<String, Digest>, MediaError> {
    let root_dir = root(&yum.name);
    let mut entries = Vec::new();
    for rpm in &yum.rpms {
        let path = tree.root().join(rpm_path(yum, &rpm.location));
        let metadata = PackageMetadata::open(&path).map_err(|error| MediaError::Read {
            path: path.clone(),
            cause: std::io::Error::other(error.to_string()),
        })?;
        entries.push(Entry {
            rpm: rpm.clone(),
            metadata,
        });
    }
    let count = entries.len();
    let mut primary = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
    );
    let mut filelists = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
    );
    let mut other = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
    );
    let mut revision = 0u64;
    for entry in &entries {
        revision = revision.max(entry.metadata.get_build_time().unwrap_or(0));
        package_xml(entry, &mut primary, &mut filelists, &mut other).map_err(|message| {
            MediaError::Read {
                path: tree.root().join(rpm_path(yum, &entry.rpm.location)),
                cause: std::io::Error::other(message),
            }
        })?;
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    other.push_str("</otherdata>\n");

    let mut written = BTreeMap::new();
    let mut data = String::new();
    let mut current: Vec<String> = Vec::new();
    for (kind, xml) in [
        ("primary", &primary),
        ("filelists", &filelists),
        ("other", &other),
    ] {
        let compressed = gzip(xml.as_bytes());
        let digest = Digest::of_bytes(&compressed);
        let location = format!("repodata/{}-{kind}.xml.gz", digest.hex());
        let path = format!("{root_dir}/{location}");
        tree.write_if_changed(&path, &compressed)?;
        written.insert(path.clone(), digest);
        current.push(path);
        let _ = write!(
            data,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{location}\"/>\n    <timestamp>{revision}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            digest.hex(),
            Digest::of_bytes(xml.as_bytes()).hex(),
            compressed.len(),
            xml.len()
        );
    }
    let repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{revision}</revision>\n{data}</repomd>\n"
    );
    // Metadata files of earlier runs go; the tree's prune keeps only what is listed.
    let repomd_path = format!("{root_dir}/repodata/repomd.xml");
    let changed = tree.write_if_changed(&repomd_path, repomd.as_bytes())?;
    written.insert(repomd_path, Digest::of_bytes(repomd.as_bytes()));
    let signature_path = format!("{root_dir}/repodata/repomd.xml.asc");
    let existing = std::fs::read(tree.root().join(&signature_path)).ok();
    let still_signed =
        !changed && existing.is_some_and(|signature| signer.signed(repomd.as_bytes(), &signature));
    if !still_signed {
        tree.write_if_changed(
            &signature_path,
            signer.sign_detached(repomd.as_bytes())?.as_bytes(),
        )?;
    }
    let signature =
        std::fs::read(tree.root().join(&signature_path)).map_err(|source| MediaError::Read {
            path: tree.root().join(&signature_path),
            cause: source,
        })?;
    written.insert(signature_path, Digest::of_bytes(&signature));
    Ok(written)
}

fn package_xml(
    entry: &Entry,
    primary: &mut String,
    filelists: &mut String,
    other: &mut String,
) -> Result<(), String> {
    let header = &entry.metadata;
    let rpm = &entry.rpm;
    let text = |value: Result<&str, rpm::Error>| escape(value.unwrap_or_default());
    let version = format!(
        "<version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        rpm.epoch,
        escape(&rpm.version),
        escape(&rpm.release)
    );
    let pkgid = rpm.digest.hex();
    let offsets = header.get_package_segment_offsets();
    let build_time = header.get_build_time().unwrap_or(0);
    let files = header.get_file_entries().unwrap_or_default();
    let _ = write!(
        primary,
        "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  {version}\n  <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>\n  <summary>{summary}</summary>\n  <description>{description}</description>\n  <packager>{packager}</packager>\n  <url>{url}</url>\n  <time file=\"{build_time}\" build=\"{build_time}\"/>\n  <size package=\"{size}\" installed=\"{installed}\" archive=\"0\"/>\n  <location href=\"{location}\"/>\n  <format>\n    <rpm:license>{license}</rpm:license>\n    <rpm:vendor>{vendor}</rpm:vendor>\n    <rpm:group>{group}</rpm:group>\n    <rpm:buildhost>{buildhost}</rpm:buildhost>\n    <rpm:sourcerpm>{sourcerpm}</rpm:sourcerpm>\n    <rpm:header-range start=\"{start}\" end=\"{end}\"/>\n",
        name = escape(&rpm.name),
        arch = escape(&rpm.arch),
        summary = text(header.get_summary()),
        description = text(header.get_description()),
        packager = text(header.get_packager()),
        url = text(header.get_url()),
        size = rpm.size,
        installed = header.get_installed_size().unwrap_or(0),
        location = escape(&rpm.location),
        license = text(header.get_license()),
        vendor = text(header.get_vendor()),
        group = text(header.get_group()),
        buildhost = text(header.get_build_host()),
        sourcerpm = text(header.get_source_rpm()),
        start = offsets.header,
        end = offsets.payload,
    );
    // In createrepo_c's order; the weak dependencies too, or dnf on the nodes would not
    // install what the lock took for them.
    let sections: [(&str, Vec<Dependency>); 8] = [
        ("provides", header.get_provides().unwrap_or_default()),
        ("requires", header.get_requires().unwrap_or_default()),
        ("conflicts", header.get_conflicts().unwrap_or_default()),
        ("obsoletes", header.get_obsoletes().unwrap_or_default()),
        ("suggests", header.get_suggests().unwrap_or_default()),
        ("enhances", header.get_enhances().unwrap_or_default()),
        ("recommends", header.get_recommends().unwrap_or_default()),
        ("supplements", header.get_supplements().unwrap_or_default()),
    ];
    for (section, dependencies) in sections {
        let dependencies: Vec<&Dependency> = dependencies
            .iter()
            .filter(|dependency| !(section == "requires" && dependency.name.starts_with("rpmlib(")))
            .collect();
        if dependencies.is_empty() {
            continue;
        }
        let _ = writeln!(primary, "    <rpm:{section}>");
        let mut seen = std::collections::BTreeSet::new();
        for dependency in dependencies {
            let line = entry_xml(dependency, section == "requires");
            if seen.insert(line.clone()) {
                let _ = writeln!(primary, "      {line}");
            }
        }
        let _ = writeln!(primary, "    </rpm:{section}>");
    }
    for file in &files {
        let path = file.path().to_string_lossy().into_owned();
        let primary_file =
            path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail";
        if primary_file && file.file_type() != FileType::Dir {
            let _ = writeln!(primary, "    <file>{}</file>", escape(&path));
        }
    }
    primary.push_str("  </format>\n</package>\n");

    let _ = writeln!(
        filelists,
        "<package pkgid=\"{pkgid}\" name=\"{}\" arch=\"{}\">\n  {version}",
        escape(&rpm.name),
        escape(&rpm.arch)
    );
    for file in &files {
        let kind = if file.file_type() == FileType::Dir {
            " type=\"dir\""
        } else {
            ""
        };
        let _ = writeln!(
            filelists,
            "  <file{kind}>{}</file>",
            escape(&file.path().to_string_lossy())
        );
    }
    filelists.push_str("</package>\n");

    let _ = writeln!(
        other,
        "<package pkgid=\"{pkgid}\" name=\"{}\" arch=\"{}\">\n  {version}",
        escape(&rpm.name),
        escape(&rpm.arch)
    );
    let changelogs = header.get_changelog_entries().unwrap_or_default();
    for change in changelogs.iter().take(10) {
        let _ = writeln!(
            other,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            escape(&change.name),
            change.timestamp,
            escape(&change.description)
        );
    }
    other.push_str("</package>\n");
    Ok(())
}

fn entry_xml(dependency: &Dependency, requires: bool) -> String {
    let mut line = format!("<rpm:entry name=\"{}\"", escape(&dependency.name));
    let flags = dependency.flags;
    let comparison =
        flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let operator = if comparison == DependencyFlags::EQUAL {
        Some("EQ")
    } else if comparison == DependencyFlags::LE {
        Some("LE")
    } else if comparison == DependencyFlags::GE {
        Some("GE")
    } else if comparison == DependencyFlags::LESS {
        Some("LT")
    } else if comparison == DependencyFlags::GREATER {
        Some("GT")
    } else {
        None
    };
    if let Some(operator) = operator
        && !dependency.version.is_empty()
    {
        let (epoch, version, release) = rpm_version::Evr::parse_values(&dependency.version);
        let epoch = if epoch.is_empty() { "0" } else { epoch };
        let _ = write!(
            line,
            " flags=\"{operator}\" epoch=\"{}\" ver=\"{}\"",
            escape(epoch),
            escape(version)
        );
        if !release.is_empty() {
            let _ = write!(line, " rel=\"{}\"", escape(release));
        }
    }
    let pre = DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
    if requires && flags.intersects(pre) {
        line.push_str(" pre=\"1\"");
    }
    line.push_str("/>");
    line
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            character if (character as u32) < 0x20 && !matches!(character, '\n' | '\t' | '\r') => {}
            character => escaped.push(character),
        }
    }
    escaped
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

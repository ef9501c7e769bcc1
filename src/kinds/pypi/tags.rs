//! Which wheels an admin host can install: the wheel tags a CPython `X.Y` on the given
//! platforms accepts, most preferred first (the order of `packaging.tags.sys_tags`, which pip
//! uses to choose among a release's wheels), and the tags a wheel's file name carries.

/// The tags (`python-abi-platform`) accepted, most preferred first.
pub fn supported(python: (u32, u32), platforms: &[String]) -> Vec<String> {
    let (major, minor) = python;
    let platforms = expand(platforms);
    let cp = format!("cp{major}{minor}");
    let mut tags = Vec::new();
    // CPython's own ABI, then the stable ABI and none, then older stable ABIs.
    for abi in [cp.as_str(), "abi3", "none"] {
        for platform in &platforms {
            tags.push(format!("{cp}-{abi}-{platform}"));
        }
    }
    for older in (2..minor).rev() {
        for platform in &platforms {
            tags.push(format!("cp{major}{older}-abi3-{platform}"));
        }
    }
    // Pure-Python wheels for a platform, then for any.
    let versions: Vec<String> = std::iter::once(format!("py{major}{minor}"))
        .chain(std::iter::once(format!("py{major}")))
        .chain((0..minor).rev().map(|older| format!("py{major}{older}")))
        .collect();
    for version in &versions {
        for platform in &platforms {
            tags.push(format!("{version}-none-{platform}"));
        }
    }
    tags.push(format!("{cp}-none-any"));
    for version in &versions {
        tags.push(format!("{version}-none-any"));
    }
    tags
}

/// The platforms given, each followed by the older ones it implies: `manylinux_2_28_x86_64`
/// takes every `manylinux_2_N_x86_64` below it and the legacy names (`manylinux2014` is 2.17,
/// `manylinux2010` 2.12, `manylinux1` 2.5), as an installer on such a host would.
pub fn expand(platforms: &[String]) -> Vec<String> {
    let mut expanded: Vec<String> = Vec::new();
    let mut push = |platform: String| {
        if !expanded.contains(&platform) {
            expanded.push(platform);
        }
    };
    for platform in platforms {
        match manylinux(platform) {
            Some((glibc_minor, arch)) => {
                for minor in (5..=glibc_minor).rev() {
                    push(format!("manylinux_2_{minor}_{arch}"));
                    let legacy = match minor {
                        17 => Some("manylinux2014"),
                        12 => Some("manylinux2010"),
                        5 => Some("manylinux1"),
                        _ => None,
                    };
                    if let Some(legacy) = legacy {
                        push(format!("{legacy}_{arch}"));
                    }
                }
            }
            None => push(platform.clone()),
        }
    }
    expanded
}

/// `(glibc minor, arch)` of a manylinux platform tag, modern or legacy.
fn manylinux(platform: &str) -> Option<(u32, String)> {
    for (legacy, minor) in [
        ("manylinux2014_", 17),
        ("manylinux2010_", 12),
        ("manylinux1_", 5),
    ] {
        if let Some(arch) = platform.strip_prefix(legacy) {
            return Some((minor, arch.to_string()));
        }
    }
    let rest = platform.strip_prefix("manylinux_2_")?;
    let (minor, arch) = rest.split_once('_')?;
    Some((minor.parse().ok()?, arch.to_string()))
}

/// The machine (`x86_64`, `aarch64`) a platform tag names, for `platform_machine` markers.
pub fn machine(platform: &str) -> Option<String> {
    if let Some((_, arch)) = manylinux(platform) {
        return Some(arch);
    }
    ["musllinux_", "linux_"].iter().find_map(|prefix| {
        let rest = platform.strip_prefix(prefix)?;
        let arch = if *prefix == "musllinux_" {
            // musllinux_1_2_x86_64
            rest.splitn(3, '_').nth(2)?
        } else {
            rest
        };
        Some(arch.to_string())
    })
}

/// What a distribution file is, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filename {
    /// A wheel: its project, version and tags (`python-abi-platform`, each expanded from the
    /// compressed `a.b` forms).
    Wheel {
        project: String,
        version: String,
        tags: Vec<String>,
    },
    /// A source distribution (`.tar.gz`, `.zip`).
    Sdist { project: String, version: String },
}

impl Filename {
    /// Parses a file name of a simple index; `None` for anything else (eggs, exe installers).
    pub fn parse(name: &str) -> Option<Filename> {
        if let Some(stem) = name.strip_suffix(".whl") {
            let parts: Vec<&str> = stem.split('-').collect();
            // name-version(-build)?-python-abi-platform
            if parts.len() != 5 && parts.len() != 6 {
                return None;
            }
            let (python, abi, platform) = (
                parts[parts.len() - 3],
                parts[parts.len() - 2],
                parts[parts.len() - 1],
            );
            let mut tags = Vec::new();
            for python in python.split('.') {
                for abi in abi.split('.') {
                    for platform in platform.split('.') {
                        tags.push(format!("{python}-{abi}-{platform}"));
                    }
                }
            }
            return Some(Filename::Wheel {
                project: parts[0].to_string(),
                version: parts[1].to_string(),
                tags,
            });
        }
        let stem = name
            .strip_suffix(".tar.gz")
            .or_else(|| name.strip_suffix(".zip"))?;
        let (project, version) = stem.rsplit_once('-')?;
        Some(Filename::Sdist {
            project: project.to_string(),
            version: version.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_packaging_order_and_manylinux_expands_downwards() {
        let tags = supported((3, 11), &["manylinux_2_28_x86_64".to_string()]);
        assert_eq!(tags[0], "cp311-cp311-manylinux_2_28_x86_64");
        let position = |tag: &str| tags.iter().position(|known| known == tag).unwrap();
        assert!(
            position("cp311-cp311-manylinux2014_x86_64")
                < position("cp311-abi3-manylinux_2_28_x86_64")
        );
        assert!(
            position("cp311-abi3-manylinux_2_17_x86_64")
                < position("cp310-abi3-manylinux_2_28_x86_64")
        );
        assert!(position("py3-none-manylinux1_x86_64") < position("py3-none-any"));
        assert!(
            !tags
                .iter()
                .any(|tag| tag.contains("aarch64") || tag.contains("2_29"))
        );
        assert_eq!(machine("manylinux2014_aarch64").as_deref(), Some("aarch64"));
        assert_eq!(machine("musllinux_1_2_x86_64").as_deref(), Some("x86_64"));
    }

    #[test]
    fn wheel_names_carry_their_compressed_tags() {
        let parsed = Filename::parse(
            "cffi-2.0.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        )
        .unwrap();
        let Filename::Wheel {
            project,
            version,
            tags,
        } = parsed
        else {
            panic!()
        };
        assert_eq!((project.as_str(), version.as_str()), ("cffi", "2.0.0"));
        assert_eq!(
            tags,
            [
                "cp311-cp311-manylinux2014_x86_64",
                "cp311-cp311-manylinux_2_17_x86_64"
            ]
        );
        assert_eq!(
            Filename::parse("netaddr-1.3.0.tar.gz"),
            Some(Filename::Sdist {
                project: "netaddr".to_string(),
                version: "1.3.0".to_string()
            })
        );
        assert_eq!(Filename::parse("x-1.0-py3-none-any.whl.metadata"), None);
    }
}

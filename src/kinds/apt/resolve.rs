//! The dependency closure of the requested packages as apt would install them on an empty
//! system: candidate = the highest version of a name (apt's default pins), `Pre-Depends` and
//! `Depends` (and `Recommends` when asked) marked depth-first in field order, the first
//! satisfiable alternative of `a | b`, virtual packages through (versioned) `Provides`,
//! `Multi-Arch` qualifiers, `Architecture: all`, and `exclude` as already installed. A request
//! with a version (`kubelet=1.35.4-1.1`, or `kubelet (>= 1.35)`) makes that version the
//! name's candidate for the whole closure, as `apt-get install name=version` does. A closure in
//! which a package `Conflicts` with or `Breaks` another is refused, as apt refuses it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::kinds::apt::index::{Atom, Group, MultiArch, Package, parse_relations};

/// A package that cannot be installed, with the chain that needs it.
#[derive(Debug)]
pub struct Unsatisfiable {
    pub message: String,
    /// Requested package first, the package with the broken dependency last.
    pub chain: Vec<String>,
}

/// Every package of all entries, for one target architecture.
pub struct Universe<'a> {
    architecture: String,
    /// Names whose candidate a request fixed (`name=version`).
    pinned: HashMap<String, usize>,
    by_name: HashMap<&'a str, Vec<usize>>,
    providers: HashMap<&'a str, Vec<usize>>,
    packages: &'a [Package],
}

impl<'a> Universe<'a> {
    pub fn new(packages: &'a [Package], architecture: &str) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, package) in packages.iter().enumerate() {
            if package.architecture != architecture && package.architecture != "all" {
                continue;
            }
            by_name
                .entry(package.name.as_str())
                .or_default()
                .push(index);
            for (virtual_name, _) in &package.provides {
                providers
                    .entry(virtual_name.as_str())
                    .or_default()
                    .push(index);
            }
        }
        Universe {
            architecture: architecture.to_string(),
            pinned: HashMap::new(),
            by_name,
            providers,
            packages,
        }
    }

    /// apt's candidate: the version a request fixed, or the highest version of `name`.
    fn candidate(&self, name: &str) -> Option<usize> {
        if let Some(pinned) = self.pinned.get(name) {
            return Some(*pinned);
        }
        self.by_name
            .get(name)?
            .iter()
            .copied()
            .max_by(|left, right| {
                self.packages[*left]
                    .version
                    .cmp(&self.packages[*right].version)
            })
    }

    fn qualifier_allows(&self, atom: &Atom, package: &Package) -> bool {
        match atom.qualifier.as_deref() {
            None | Some("native") => true,
            Some("any") => matches!(package.multi_arch, MultiArch::Allowed | MultiArch::Foreign),
            Some(arch) => arch == self.architecture || package.architecture == "all",
        }
    }

    /// Whether `index` (a selected package) satisfies `atom`, directly or by `Provides`.
    fn satisfies(&self, index: usize, atom: &Atom) -> bool {
        let package = &self.packages[index];
        if package.name == atom.name {
            let version_ok = atom
                .constraint
                .as_ref()
                .is_none_or(|(op, version)| op.holds(&package.version, version));
            return version_ok && self.qualifier_allows(atom, package);
        }
        package.provides.iter().any(|(name, provided)| {
            name == &atom.name
                && match (&atom.constraint, provided) {
                    (None, _) => true,
                    (Some((op, version)), Some(provided)) => op.holds(provided, version),
                    (Some(_), None) => false,
                }
        })
    }

    /// The package apt would pick for `atom`, if any.
    fn choose(&self, atom: &Atom) -> Option<usize> {
        if let Some(candidate) = self.candidate(&atom.name)
            && self.satisfies(candidate, atom)
        {
            return Some(candidate);
        }
        // A virtual package: among providers' candidates that satisfy the relation, the most
        // important priority, then the name, as apt orders them.
        let mut providers: Vec<usize> = self
            .providers
            .get(atom.name.as_str())?
            .iter()
            .filter(|index| self.candidate(&self.packages[**index].name) == Some(**index))
            .filter(|index| self.satisfies(**index, atom))
            .copied()
            .collect();
        providers.sort_by(|left, right| {
            let (left, right) = (&self.packages[*left], &self.packages[*right]);
            (left.priority, &left.name).cmp(&(right.priority, &right.name))
        });
        providers.first().copied()
    }
}

/// Resolves `requested` (names, or names with a version) into a closure: indexes into the
/// packages. The universe is borrowed for this closure's pins.
pub fn closure(
    universe: &mut Universe,
    requested: &[String],
    exclude: &BTreeSet<String>,
    recommends: bool,
) -> Result<BTreeSet<usize>, Unsatisfiable> {
    universe.pinned.clear();
    let mut atoms = Vec::new();
    for text in requested {
        let atom =
            crate::kinds::apt::index::parse_request(text).map_err(|error| Unsatisfiable {
                message: format!("`{text}` is not a package request: {error}"),
                chain: vec![text.clone()],
            })?;
        if atom.constraint.is_some() {
            let versions = universe.by_name.get(atom.name.as_str());
            let matching = versions
                .into_iter()
                .flatten()
                .copied()
                .filter(|index| universe.satisfies(*index, &atom))
                .max_by(|left, right| {
                    universe.packages[*left]
                        .version
                        .cmp(&universe.packages[*right].version)
                });
            let Some(index) = matching else {
                let mut known: Vec<&Package> = versions
                    .into_iter()
                    .flatten()
                    .map(|index| &universe.packages[*index])
                    .collect();
                known.sort_by(|left, right| right.version.cmp(&left.version));
                known.dedup_by(|left, right| left.version == right.version);
                let listed: Vec<&str> = known
                    .iter()
                    .take(12)
                    .map(|package| package.version_text.as_str())
                    .collect();
                return Err(Unsatisfiable {
                    message: if listed.is_empty() {
                        format!(
                            "`{text}`: `{}` is not a package of any [[apt]] entry for {}",
                            atom.name, universe.architecture
                        )
                    } else {
                        format!(
                            "`{text}` matches no version of {} for {}; there are: {}",
                            atom.name,
                            universe.architecture,
                            listed.join(", ")
                        )
                    },
                    chain: vec![text.clone()],
                });
            };
            universe.pinned.insert(atom.name.clone(), index);
        }
        atoms.push((text, atom));
    }
    let universe = &*universe;
    let mut state = State {
        universe,
        exclude,
        recommends,
        selected: BTreeMap::new(),
    };
    for (text, atom) in atoms {
        let atom = Atom {
            constraint: None,
            ..atom
        };
        match universe.choose(&atom) {
            Some(index) => state.mark(index, &mut vec![atom.name.clone()])?,
            None => {
                return Err(Unsatisfiable {
                    message: format!(
                        "`{text}` is not a package of any [[apt]] entry for {} (check the name, the components and the architectures)",
                        universe.architecture
                    ),
                    chain: vec![text.clone()],
                });
            }
        }
    }
    let selected: BTreeSet<usize> = state.selected.into_values().collect();
    check_conflicts(universe, &selected)?;
    Ok(selected)
}

/// Refuses a closure in which one package `Conflicts` with or `Breaks` another (a package's
/// relations to itself, such as conflicting with a virtual name it provides, do not count).
fn check_conflicts(universe: &Universe, selected: &BTreeSet<usize>) -> Result<(), Unsatisfiable> {
    for &index in selected {
        let package = &universe.packages[index];
        for (field, text) in [
            ("Conflicts", &package.conflicts),
            ("Breaks", &package.breaks),
        ] {
            if text.is_empty() {
                continue;
            }
            let groups = parse_relations(text).map_err(|message| Unsatisfiable {
                message: format!(
                    "{} {}: its {field} cannot be read: {message}",
                    package.name, package.version_text
                ),
                chain: vec![package.name.clone()],
            })?;
            for atom in groups.iter().flatten() {
                let other = selected.iter().copied().find(|&other| {
                    other != index
                        && universe.packages[other].name != package.name
                        && universe.satisfies(other, atom)
                });
                if let Some(other) = other {
                    let other = &universe.packages[other];
                    return Err(Unsatisfiable {
                        message: format!(
                            "{} {} and {} {} cannot be installed together: {} {field} `{atom}`",
                            package.name,
                            package.version_text,
                            other.name,
                            other.version_text,
                            package.name
                        ),
                        chain: vec![package.name.clone(), other.name.clone()],
                    });
                }
            }
        }
    }
    Ok(())
}

struct State<'a, 'b> {
    universe: &'b Universe<'a>,
    exclude: &'b BTreeSet<String>,
    recommends: bool,
    /// Name to the chosen package.
    selected: BTreeMap<String, usize>,
}

impl State<'_, '_> {
    fn satisfied(&self, group: &Group) -> bool {
        group.iter().any(|atom| {
            self.exclude.contains(&atom.name)
                || self
                    .selected
                    .values()
                    .any(|index| self.universe.satisfies(*index, atom))
        })
    }

    fn mark(&mut self, index: usize, chain: &mut Vec<String>) -> Result<(), Unsatisfiable> {
        let package = &self.universe.packages[index];
        if self.selected.contains_key(&package.name) {
            return Ok(());
        }
        self.selected.insert(package.name.clone(), index);
        let mut fields = vec![
            ("Pre-Depends", &package.pre_depends, true),
            ("Depends", &package.depends, true),
        ];
        if self.recommends {
            fields.push(("Recommends", &package.recommends, false));
        }
        let mut groups: Vec<(Group, bool)> = Vec::new();
        for (field, text, required) in fields {
            let parsed = parse_relations(text).map_err(|message| Unsatisfiable {
                message: format!(
                    "{} {}: its {field} cannot be read: {message}",
                    package.name, package.version_text
                ),
                chain: chain.clone(),
            })?;
            groups.extend(parsed.into_iter().map(|group| (group, required)));
        }
        for (group, required) in &groups {
            let (group, required) = (group, *required);
            if self.satisfied(group) {
                continue;
            }
            let chosen = group.iter().find_map(|atom| self.universe.choose(atom));
            match chosen {
                Some(next) => {
                    chain.push(self.universe.packages[next].name.clone());
                    self.mark(next, chain)?;
                    chain.pop();
                }
                None if required => {
                    let wanted = group
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" | ");
                    return Err(Unsatisfiable {
                        message: format!(
                            "{} {} depends on `{wanted}`, which no [[apt]] entry provides for {}",
                            package.name, package.version_text, self.universe.architecture
                        ),
                        chain: chain.clone(),
                    });
                }
                // apt leaves an unsatisfiable recommendation out.
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packages from an index text; every paragraph gets a digest, a size and a file name.
    fn packages(index: &str) -> Vec<Package> {
        let mut text = String::new();
        for paragraph in index.trim().split("\n\n") {
            let name = paragraph
                .lines()
                .find_map(|line| line.strip_prefix("Package: "))
                .unwrap_or("x");
            text.push_str(paragraph.trim());
            text.push_str(&format!(
                "\nFilename: pool/{name}.deb\nSize: 1\nSHA256: {}\n\n",
                "0".repeat(64)
            ));
        }
        let mut packages = Vec::new();
        crate::kinds::apt::index::parse_packages(text.as_bytes(), 0, "main", &mut packages)
            .unwrap();
        packages
    }

    fn names(packages: &[Package], selected: &BTreeSet<usize>) -> Vec<String> {
        let mut names: Vec<String> = selected
            .iter()
            .map(|index| {
                format!(
                    "{}={}",
                    packages[*index].name, packages[*index].version_text
                )
            })
            .collect();
        names.sort();
        names
    }

    fn resolve(
        index: &str,
        requested: &[&str],
        exclude: &[&str],
    ) -> Result<Vec<String>, Unsatisfiable> {
        let packages = packages(index);
        let mut universe = Universe::new(&packages, "amd64");
        let requested: Vec<String> = requested.iter().map(|name| name.to_string()).collect();
        let exclude: BTreeSet<String> = exclude.iter().map(|name| name.to_string()).collect();
        closure(&mut universe, &requested, &exclude, false)
            .map(|selected| names(&packages, &selected))
    }

    #[test]
    fn a_version_in_the_request_is_the_candidate_for_the_whole_closure() {
        // app's dependency on libfoo (>= 2) is met by the pinned 2.1 even when app comes
        // first; a pin below what app needs fails, naming what app needs.
        let index = format!("{INDEX}\nPackage: libfoo\nVersion: 2.5\nArchitecture: amd64\n");
        let closure = resolve(&index, &["app", "libfoo=2.1"], &[]).unwrap();
        assert!(closure.contains(&"libfoo=2.1".to_string()), "{closure:?}");
        let closure = resolve(&index, &["libfoo (>= 2)"], &[]).unwrap();
        assert_eq!(closure, ["libfoo=2.5"]);
        let error = resolve(&index, &["app", "libfoo=1.5"], &[]).unwrap_err();
        assert!(error.message.contains("libfoo (>= 2)"), "{}", error.message);
        let error = resolve(&index, &["libfoo=9"], &[]).unwrap_err();
        assert!(
            error.message.contains("there are: 2.5, 2.1, 1.5"),
            "{}",
            error.message
        );
    }

    #[test]
    fn conflicts_and_breaks_in_a_closure_name_both_packages() {
        let index = "
Package: a
Version: 1
Architecture: amd64
Depends: b
Conflicts: c

Package: b
Version: 1
Architecture: amd64
Breaks: a (<< 2)

Package: c
Version: 1
Architecture: amd64
Provides: mta
Conflicts: mta
";
        let error = resolve(index, &["a"], &[]).unwrap_err();
        assert!(
            error
                .message
                .contains("b 1 and a 1 cannot be installed together: b Breaks `a (<< 2)`"),
            "{}",
            error.message
        );
        // Conflicting with a name it provides itself is no conflict.
        assert_eq!(resolve(index, &["c"], &[]).unwrap(), ["c=1"]);
    }

    const INDEX: &str = "
Package: app
Version: 1.0
Architecture: amd64
Depends: libfoo (>= 2), mta | postfix, python3:any

Package: libfoo
Version: 1.5
Architecture: amd64

Package: libfoo
Version: 2.1
Architecture: amd64

Package: exim
Version: 4
Architecture: amd64
Provides: mta

Package: postfix
Version: 3
Architecture: amd64

Package: python3
Version: 3.11
Architecture: amd64
Multi-Arch: allowed

Package: docs
Version: 1
Architecture: all
";

    #[test]
    fn candidates_alternatives_virtual_packages_and_any() {
        // The highest libfoo; `mta | postfix` takes the first satisfiable (virtual, through
        // exim's Provides); python3:any is allowed by Multi-Arch: allowed.
        assert_eq!(
            resolve(INDEX, &["app"], &[]).unwrap(),
            ["app=1.0", "exim=4", "libfoo=2.1", "python3=3.11"]
        );
        // Architecture: all serves every architecture.
        assert_eq!(resolve(INDEX, &["docs"], &[]).unwrap(), ["docs=1"]);
    }

    #[test]
    fn excluded_packages_are_taken_as_installed() {
        assert_eq!(
            resolve(INDEX, &["app"], &["python3", "libfoo"]).unwrap(),
            ["app=1.0", "exim=4"]
        );
    }

    #[test]
    fn an_unsatisfiable_dependency_names_its_chain() {
        let index = "
Package: app
Version: 1
Architecture: amd64
Depends: middle

Package: middle
Version: 1
Architecture: amd64
Depends: libmissing (>= 9)
";
        let error = resolve(index, &["app"], &[]).unwrap_err();
        assert_eq!(error.chain, ["app", "middle"]);
        assert!(error.message.contains("libmissing"), "{}", error.message);
        assert!(resolve(index, &["nothing"], &[]).is_err());
    }

    #[test]
    fn any_needs_multi_arch_allowed_or_foreign() {
        let index = "
Package: app
Version: 1
Architecture: amd64
Depends: tool:any

Package: tool
Version: 1
Architecture: amd64
";
        assert!(resolve(index, &["app"], &[]).is_err());
    }
}

//! The closure of the requested packages as dnf would install them on an empty system:
//! `Requires` against `Provides` and primary's file lists, versioned and epoch'd relations
//! compared with rpm's algorithm (`rpm-version`: `~`, `^`), rich dependencies (`and`, `or`,
//! `if`/`else`, `unless`, `with`, `without`), `Obsoletes` (an obsoleted package is replaced by
//! its obsoleter), the newest version that satisfies a relation, and architecture
//! compatibility (`x86_64` takes `noarch`; `i686` only when asked). With weak dependencies on
//! (dnf's `install_weak_deps=True`, its default), once the hard closure stands, each selected
//! package's `Recommends` are added when they can be installed, and so is every package whose
//! `Supplements` the selection meets, until nothing more is added; one that cannot be installed
//! is left out, as dnf leaves it.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use rpm_version::Evr;

use crate::kinds::yum::metadata::{Relation, RpmPackage};

/// A package that cannot be installed, with the chain that needs it.
#[derive(Debug)]
pub struct Unsatisfiable {
    pub message: String,
    pub chain: Vec<String>,
}

/// The architectures a system of `arch` installs.
pub fn compatible(arch: &str) -> Vec<&'static str> {
    match arch {
        "x86_64" => vec!["x86_64", "noarch"],
        "aarch64" => vec!["aarch64", "noarch"],
        "ppc64le" => vec!["ppc64le", "noarch"],
        "s390x" => vec!["s390x", "noarch"],
        "i686" => vec!["i686", "i586", "i486", "i386", "noarch"],
        _ => vec!["noarch"],
    }
}

/// The packages of a repository, indexed for resolution.
pub struct Universe<'a> {
    packages: &'a [RpmPackage],
    /// Names whose version a request fixed (`kubelet-1.35.4`): only that package of the name
    /// is chosen, for the request and for every dependency on the name.
    pinned: HashMap<String, usize>,
    by_name: HashMap<&'a str, Vec<usize>>,
    providers: HashMap<&'a str, Vec<usize>>,
    files: HashMap<&'a str, Vec<usize>>,
    obsoleted: HashSet<usize>,
}

impl<'a> Universe<'a> {
    /// The packages of `arch` (and those it installs), less the `hidden` ones (modular
    /// filtering).
    pub fn new(packages: &'a [RpmPackage], arch: &str, hidden: &HashSet<usize>) -> Self {
        let compatible = compatible(arch);
        let mut universe = Universe {
            packages,
            pinned: HashMap::new(),
            by_name: HashMap::new(),
            providers: HashMap::new(),
            files: HashMap::new(),
            obsoleted: HashSet::new(),
        };
        for (index, package) in packages.iter().enumerate() {
            if !compatible.contains(&package.arch.as_str()) || hidden.contains(&index) {
                continue;
            }
            universe
                .by_name
                .entry(package.name.as_str())
                .or_default()
                .push(index);
            for provide in &package.provides {
                universe
                    .providers
                    .entry(provide.name.as_str())
                    .or_default()
                    .push(index);
            }
            for file in &package.files {
                universe.files.entry(file.as_str()).or_default().push(index);
            }
        }
        // A package that the newest version of another name obsoletes is not installed; dnf
        // installs the obsoleter instead.
        let newest: Vec<usize> = universe
            .by_name
            .values()
            .filter_map(|indexes| universe.newest(indexes))
            .collect();
        for obsoleter in newest {
            for relation in &packages[obsoleter].obsoletes {
                for index in universe
                    .by_name
                    .get(relation.name.as_str())
                    .into_iter()
                    .flatten()
                {
                    if packages[*index].name != packages[obsoleter].name
                        && version_matches(&packages[*index], relation)
                    {
                        universe.obsoleted.insert(*index);
                    }
                }
            }
        }
        universe
    }

    /// The paths that packages of this universe require and that no package here provides
    /// (primary lists only some of each package's files; filelists has the rest).
    pub fn unresolved_files(&self) -> BTreeSet<String> {
        let mut unresolved = BTreeSet::new();
        for indexes in self.by_name.values() {
            for index in indexes {
                for requirement in &self.packages[*index].requires {
                    let path = requirement.name.as_str();
                    if path.starts_with('/')
                        && !self.files.contains_key(path)
                        && !self.providers.contains_key(path)
                    {
                        unresolved.insert(path.to_string());
                    }
                }
            }
        }
        unresolved
    }

    fn newest(&self, indexes: &[usize]) -> Option<usize> {
        indexes
            .iter()
            .copied()
            .max_by(|left, right| compare_packages(&self.packages[*left], &self.packages[*right]))
    }

    /// Whether `index` satisfies the plain (non-rich) relation.
    fn satisfies(&self, index: usize, relation: &Relation) -> bool {
        let package = &self.packages[index];
        if relation.name.starts_with('/') {
            return package.files.iter().any(|file| file == &relation.name)
                || package
                    .provides
                    .iter()
                    .any(|provide| provide.name == relation.name);
        }
        package
            .provides
            .iter()
            .any(|provide| provide.name == relation.name && ranges_overlap(provide, relation))
    }

    /// The package dnf would pick for a plain relation: among installable packages that
    /// satisfy it, one named like the relation first, then the newest, then by name.
    fn choose(&self, relation: &Relation) -> Option<usize> {
        let mut candidates: BTreeSet<usize> = BTreeSet::new();
        if relation.name.starts_with('/') {
            candidates.extend(self.files.get(relation.name.as_str()).into_iter().flatten());
        }
        candidates.extend(
            self.providers
                .get(relation.name.as_str())
                .into_iter()
                .flatten(),
        );
        candidates
            .into_iter()
            .filter(|index| !self.obsoleted.contains(index))
            .filter(|index| {
                self.pinned
                    .get(self.packages[*index].name.as_str())
                    .is_none_or(|pinned| pinned == index)
            })
            .filter(|index| self.satisfies(*index, relation))
            .max_by(|left, right| {
                let (left_package, right_package) = (&self.packages[*left], &self.packages[*right]);
                (left_package.name == relation.name)
                    .cmp(&(right_package.name == relation.name))
                    .then_with(|| compare_packages(left_package, right_package))
                    .then_with(|| right_package.name.cmp(&left_package.name))
            })
    }
}

/// Resolves `requested` into a closure: indexes into the packages. A request is read as dnf
/// reads it: a name (or something a package provides), a `name-version[-release][.arch]` or
/// `name-epoch:version-release` of a package, or a relation `name = 1.35.4` (also `>=`, ...);
/// a version fixes the name's package for the whole closure.
pub fn closure(
    universe: &mut Universe,
    requested: &[String],
    exclude: &BTreeSet<String>,
    weak_deps: bool,
) -> Result<BTreeSet<usize>, Unsatisfiable> {
    universe.pinned.clear();
    let mut chosen = Vec::new();
    for text in requested {
        let index = universe.request(text).map_err(|message| Unsatisfiable {
            message,
            chain: vec![text.clone()],
        })?;
        chosen.push(index);
    }
    let universe = &*universe;
    let mut state = State {
        universe,
        exclude,
        selected: BTreeSet::new(),
    };
    for index in chosen {
        state.mark(index, &mut vec![universe.packages[index].name.clone()])?;
    }
    if weak_deps {
        state.add_weak();
    }
    Ok(state.selected)
}

impl Universe<'_> {
    /// The package a request names, pinning its name when the request has a version.
    fn request(&mut self, text: &str) -> Result<usize, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if let [name, op, evr] = words[..] {
            let flags = match op {
                "=" | "==" => "EQ",
                ">=" => "GE",
                "<=" => "LE",
                ">" => "GT",
                "<" => "LT",
                _ => {
                    return Err(format!(
                        "`{text}` is not a package request: `{op}` is no relation"
                    ));
                }
            };
            let (epoch, rest) = match evr.split_once(':') {
                Some((epoch, rest)) => (Some(epoch.to_string()), rest),
                None => (None, evr),
            };
            let (version, release) = match rest.split_once('-') {
                Some((version, release)) => (version, Some(release.to_string())),
                None => (rest, None),
            };
            let relation = Relation {
                name: name.to_string(),
                flags: flags.to_string(),
                epoch,
                version: Some(version.to_string()),
                release,
            };
            let index = self
                .choose(&relation)
                .ok_or_else(|| self.no_version(text, name))?;
            self.pinned.insert(self.packages[index].name.clone(), index);
            return Ok(index);
        }
        if self.by_name.contains_key(text) || self.providers.contains_key(text) {
            return self.choose(&plain(text)).ok_or_else(|| {
                format!("`{text}` cannot be installed: every package of it is obsoleted")
            });
        }
        // name-version, name-version-release, name-epoch:version-release, each with .arch.
        let matches: Vec<usize> = self
            .by_name
            .iter()
            .filter(|(name, _)| text.starts_with(&format!("{name}-")))
            .flat_map(|(_, indexes)| indexes.iter().copied())
            .filter(|index| {
                let package = &self.packages[*index];
                let (name, epoch, version, release, arch) = (
                    &package.name,
                    package.epoch,
                    &package.version,
                    &package.release,
                    &package.arch,
                );
                [
                    format!("{name}-{version}"),
                    format!("{name}-{version}-{release}"),
                    format!("{name}-{epoch}:{version}-{release}"),
                ]
                .iter()
                .any(|form| text == form || text == format!("{form}.{arch}"))
            })
            .collect();
        let Some(index) = self.newest(&matches) else {
            let name = self
                .by_name
                .keys()
                .filter(|name| text.starts_with(&format!("{name}-")))
                .max_by_key(|name| name.len())
                .copied();
            return Err(match name {
                Some(name) => self.no_version(text, name),
                None => format!(
                    "`{text}` is not a package of the repository (nor provided by one) for this architecture"
                ),
            });
        };
        self.pinned.insert(self.packages[index].name.clone(), index);
        Ok(index)
    }

    /// The message for a request whose version matches nothing: the versions there are.
    fn no_version(&self, text: &str, name: &str) -> String {
        let mut versions: Vec<&RpmPackage> = self
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|index| &self.packages[*index])
            .collect();
        if versions.is_empty() {
            return format!(
                "`{text}`: `{name}` is not a package of the repository for this architecture"
            );
        }
        versions.sort_by(|left, right| compare_packages(right, left));
        let listed: Vec<String> = versions
            .iter()
            .map(|package| format!("{}-{}", package.version, package.release))
            .take(12)
            .collect();
        format!(
            "`{text}` matches no version of {name}; there are: {}",
            listed.join(", ")
        )
    }
}

fn plain(name: &str) -> Relation {
    Relation {
        name: name.to_string(),
        flags: String::new(),
        epoch: None,
        version: None,
        release: None,
    }
}

struct State<'a, 'b> {
    universe: &'b Universe<'a>,
    exclude: &'b BTreeSet<String>,
    selected: BTreeSet<usize>,
}

impl State<'_, '_> {
    fn satisfied(&self, relation: &Relation) -> bool {
        if self.exclude.contains(&relation.name) {
            return true;
        }
        let excluded = self
            .exclude
            .iter()
            .flat_map(|name| {
                self.universe
                    .by_name
                    .get(name.as_str())
                    .into_iter()
                    .flatten()
            })
            .any(|index| self.universe.satisfies(*index, relation));
        excluded
            || self
                .selected
                .iter()
                .any(|index| self.universe.satisfies(*index, relation))
    }

    fn mark(&mut self, index: usize, chain: &mut Vec<String>) -> Result<(), Unsatisfiable> {
        if !self.selected.insert(index) {
            return Ok(());
        }
        let package = &self.universe.packages[index];
        for requirement in &package.requires {
            if requirement.name.starts_with("rpmlib(") {
                continue;
            }
            let outcome = if requirement.name.starts_with('(') {
                let rich = parse_rich(&requirement.name).map_err(|message| Unsatisfiable {
                    message: format!(
                        "{} has an unreadable rich dependency `{}`: {message}",
                        package.nevra(),
                        requirement.name
                    ),
                    chain: chain.clone(),
                })?;
                self.require_rich(&rich, chain)
            } else {
                self.require(requirement, chain)
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Unsatisfiable {
                        message: format!(
                            "{} requires `{requirement}`, which nothing in the repository provides",
                            package.nevra()
                        ),
                        chain: chain.clone(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Adds what the selection recommends and what supplements it, each with its own hard
    /// closure, until nothing changes. A weak dependency that cannot be installed (nothing
    /// provides it, or its closure breaks) is skipped and the selection left as it was.
    fn add_weak(&mut self) {
        let mut tried: HashSet<usize> = HashSet::new();
        loop {
            let mut wanted: Vec<usize> = Vec::new();
            for index in self.selected.iter().copied() {
                for relation in &self.universe.packages[index].recommends {
                    let wish = if relation.name.starts_with('(') {
                        parse_rich(&relation.name).ok()
                    } else {
                        Some(Rich::Atom(relation.clone()))
                    };
                    let Some(wish) = wish else { continue };
                    if self.holds(&wish) {
                        continue;
                    }
                    if let Some(found) = self.weak_candidate(&wish) {
                        wanted.push(found);
                    }
                }
            }
            // Supplements: the newest installable package of each name whose supplemented
            // relation the selection meets.
            for indexes in self.universe.by_name.values() {
                let Some(newest) = self.universe.newest(indexes) else {
                    continue;
                };
                let package = &self.universe.packages[newest];
                if self.selected.contains(&newest)
                    || self.universe.obsoleted.contains(&newest)
                    || self.exclude.contains(&package.name)
                {
                    continue;
                }
                let supplements = package.supplements.iter().any(|relation| {
                    if relation.name.starts_with('(') {
                        parse_rich(&relation.name).is_ok_and(|rich| self.holds(&rich))
                    } else {
                        self.selected
                            .iter()
                            .any(|selected| self.universe.satisfies(*selected, relation))
                    }
                });
                if supplements {
                    wanted.push(newest);
                }
            }
            wanted.retain(|index| tried.insert(*index));
            if wanted.is_empty() {
                return;
            }
            wanted.sort_unstable();
            for index in wanted {
                if self.selected.contains(&index) {
                    continue;
                }
                let before = self.selected.clone();
                let name = self.universe.packages[index].name.clone();
                if self.mark(index, &mut vec![name]).is_err() {
                    self.selected = before;
                }
            }
        }
    }

    /// The package a weak dependency would bring in: the first plain alternative that a
    /// package provides.
    fn weak_candidate(&self, wish: &Rich) -> Option<usize> {
        match wish {
            Rich::Atom(relation) => self.universe.choose(relation),
            Rich::Or(items) => items.iter().find_map(|item| self.weak_candidate(item)),
            Rich::And(items) | Rich::With(items) => {
                items.iter().find_map(|item| self.weak_candidate(item))
            }
            Rich::If(then, condition, _) if self.holds(condition) => self.weak_candidate(then),
            Rich::If(..) => None,
            Rich::Unless(required, condition) if !self.holds(condition) => {
                self.weak_candidate(required)
            }
            Rich::Unless(..) => None,
            Rich::Without(required, _) => self.weak_candidate(required),
        }
    }

    /// Satisfies a plain relation, marking a provider if needed. `Ok(false)`: impossible.
    fn require(
        &mut self,
        relation: &Relation,
        chain: &mut Vec<String>,
    ) -> Result<bool, Unsatisfiable> {
        if self.satisfied(relation) {
            return Ok(true);
        }
        let Some(next) = self.universe.choose(relation) else {
            return Ok(false);
        };
        chain.push(self.universe.packages[next].name.clone());
        self.mark(next, chain)?;
        chain.pop();
        Ok(true)
    }

    fn holds(&self, rich: &Rich) -> bool {
        match rich {
            Rich::Atom(relation) => self.satisfied(relation),
            Rich::And(items) | Rich::With(items) => items.iter().all(|item| self.holds(item)),
            Rich::Or(items) => items.iter().any(|item| self.holds(item)),
            Rich::If(then, condition, otherwise) => {
                if self.holds(condition) {
                    self.holds(then)
                } else {
                    otherwise
                        .as_ref()
                        .is_none_or(|otherwise| self.holds(otherwise))
                }
            }
            Rich::Unless(required, condition) => self.holds(condition) || self.holds(required),
            Rich::Without(required, _) => self.holds(required),
        }
    }

    fn possible(&self, rich: &Rich) -> bool {
        match rich {
            Rich::Atom(relation) => {
                self.satisfied(relation) || self.universe.choose(relation).is_some()
            }
            Rich::And(items) | Rich::With(items) => items.iter().all(|item| self.possible(item)),
            Rich::Or(items) => items.iter().any(|item| self.possible(item)),
            Rich::If(then, condition, otherwise) => {
                if self.holds(condition) {
                    self.possible(then)
                } else {
                    otherwise
                        .as_ref()
                        .is_none_or(|otherwise| self.possible(otherwise))
                }
            }
            Rich::Unless(required, condition) => self.holds(condition) || self.possible(required),
            Rich::Without(required, _) => self.possible(required),
        }
    }

    fn require_rich(
        &mut self,
        rich: &Rich,
        chain: &mut Vec<String>,
    ) -> Result<bool, Unsatisfiable> {
        if self.holds(rich) {
            return Ok(true);
        }
        match rich {
            Rich::Atom(relation) => self.require(relation, chain),
            Rich::And(items) | Rich::With(items) => {
                for item in items {
                    if !self.require_rich(item, chain)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rich::Or(items) => {
                for item in items {
                    if self.possible(item) {
                        return self.require_rich(item, chain);
                    }
                }
                Ok(false)
            }
            Rich::If(then, condition, otherwise) => {
                if self.holds(condition) {
                    self.require_rich(then, chain)
                } else if let Some(otherwise) = otherwise {
                    self.require_rich(otherwise, chain)
                } else {
                    Ok(true)
                }
            }
            Rich::Unless(required, condition) => {
                if self.holds(condition) {
                    Ok(true)
                } else {
                    self.require_rich(required, chain)
                }
            }
            Rich::Without(required, _) => self.require_rich(required, chain),
        }
    }
}

/// A rich (boolean) dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rich {
    Atom(Relation),
    And(Vec<Rich>),
    Or(Vec<Rich>),
    With(Vec<Rich>),
    /// `then if condition [else otherwise]`.
    If(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    /// `required unless condition`.
    Unless(Box<Rich>, Box<Rich>),
    Without(Box<Rich>, Box<Rich>),
}

/// Why a rich dependency (`(a or b)`) could not be read: what is wrong, in rpm's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RichError(pub String);

/// Parses `(a or (b >= 1.0 and c))`.
pub fn parse_rich(text: &str) -> Result<Rich, RichError> {
    let tokens = tokenize(text);
    let mut position = 0;
    let rich = parse_expression(&tokens, &mut position)?;
    if position != tokens.len() {
        return Err(RichError("trailing text".to_string()));
    }
    Ok(rich)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for character in text.chars() {
        match character {
            '(' | ')' => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
                tokens.push(character.to_string());
            }
            character if character.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            character => current.push(character),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn parse_expression(tokens: &[String], position: &mut usize) -> Result<Rich, RichError> {
    if tokens.get(*position).map(String::as_str) != Some("(") {
        return parse_atom(tokens, position);
    }
    *position += 1;
    let first = parse_expression(tokens, position)?;
    let mut operator: Option<String> = None;
    let mut operands = vec![first];
    while let Some(token) = tokens.get(*position) {
        if token == ")" {
            *position += 1;
            return build(operator.as_deref(), operands);
        }
        let word = token.clone();
        if !matches!(
            word.as_str(),
            "and" | "or" | "if" | "else" | "unless" | "with" | "without"
        ) {
            return Err(RichError(format!("unexpected `{word}`")));
        }
        *position += 1;
        let operand = parse_expression(tokens, position)?;
        match (&operator, word.as_str()) {
            (Some(previous), "else") if previous == "if" => operator = Some("if-else".to_string()),
            (Some(previous), current) if previous != current => {
                return Err(RichError(format!(
                    "`{previous}` and `{current}` need parentheses"
                )));
            }
            _ => operator = Some(word),
        }
        operands.push(operand);
    }
    Err(RichError("unbalanced parentheses".to_string()))
}

fn build(operator: Option<&str>, mut operands: Vec<Rich>) -> Result<Rich, RichError> {
    Ok(match operator {
        None => operands.remove(0),
        Some("and") => Rich::And(operands),
        Some("or") => Rich::Or(operands),
        Some("with") => Rich::With(operands),
        Some("if") if operands.len() == 2 => {
            let condition = operands
                .pop()
                .map(Box::new)
                .ok_or_else(|| RichError("empty".to_string()))?;
            Rich::If(Box::new(operands.remove(0)), condition, None)
        }
        Some("if-else") if operands.len() == 3 => {
            let otherwise = operands.pop().map(Box::new);
            let condition = operands
                .pop()
                .map(Box::new)
                .ok_or_else(|| RichError("empty".to_string()))?;
            Rich::If(Box::new(operands.remove(0)), condition, otherwise)
        }
        Some("unless") if operands.len() == 2 => {
            let condition = operands
                .pop()
                .map(Box::new)
                .ok_or_else(|| RichError("empty".to_string()))?;
            Rich::Unless(Box::new(operands.remove(0)), condition)
        }
        Some("without") if operands.len() == 2 => {
            let other = operands
                .pop()
                .map(Box::new)
                .ok_or_else(|| RichError("empty".to_string()))?;
            Rich::Without(Box::new(operands.remove(0)), other)
        }
        Some(other) => {
            return Err(RichError(format!(
                "`{other}` with {} operands",
                operands.len()
            )));
        }
    })
}

fn parse_atom(tokens: &[String], position: &mut usize) -> Result<Rich, RichError> {
    let name = tokens
        .get(*position)
        .ok_or_else(|| RichError("a relation is missing".to_string()))?
        .clone();
    *position += 1;
    let mut relation = plain(&name);
    if let Some(op) = tokens.get(*position) {
        let flags = match op.as_str() {
            "=" | "==" => Some("EQ"),
            "<" => Some("LT"),
            "<=" => Some("LE"),
            ">" => Some("GT"),
            ">=" => Some("GE"),
            _ => None,
        };
        if let Some(flags) = flags {
            let evr = tokens
                .get(*position + 1)
                .ok_or_else(|| RichError("a version is missing".to_string()))?;
            *position += 2;
            let (epoch, version, release) = Evr::parse_values(evr);
            relation.flags = flags.to_string();
            relation.epoch = (!epoch.is_empty()).then(|| epoch.to_string());
            relation.version = Some(version.to_string());
            relation.release = (!release.is_empty()).then(|| release.to_string());
        }
    }
    Ok(Rich::Atom(relation))
}

/// rpm's comparison of two `(epoch, version, release)`, where a missing release on either
/// side is not compared (so `>= 2.0` matches `2.0-1`).
fn compare_evr(left: (&str, &str, Option<&str>), right: (&str, &str, Option<&str>)) -> Ordering {
    let epoch = |text: &str| text.parse::<u64>().unwrap_or(0);
    let by_epoch = epoch(left.0).cmp(&epoch(right.0));
    if by_epoch != Ordering::Equal {
        return by_epoch;
    }
    let by_version = Evr::new("0", left.1, "").cmp(&Evr::new("0", right.1, ""));
    if by_version != Ordering::Equal {
        return by_version;
    }
    match (left.2, right.2) {
        (Some(left), Some(right)) if !left.is_empty() && !right.is_empty() => {
            Evr::new("0", "0", left).cmp(&Evr::new("0", "0", right))
        }
        _ => Ordering::Equal,
    }
}

fn compare_packages(left: &RpmPackage, right: &RpmPackage) -> Ordering {
    compare_evr(
        (&left.epoch.to_string(), &left.version, Some(&left.release)),
        (
            &right.epoch.to_string(),
            &right.version,
            Some(&right.release),
        ),
    )
}

fn relation_evr(relation: &Relation) -> (&str, &str, Option<&str>) {
    (
        relation.epoch.as_deref().unwrap_or("0"),
        relation.version.as_deref().unwrap_or_default(),
        relation.release.as_deref(),
    )
}

fn op_holds(flags: &str, ordering: Ordering) -> bool {
    match flags {
        "EQ" => ordering == Ordering::Equal,
        "LT" => ordering == Ordering::Less,
        "LE" => ordering != Ordering::Greater,
        "GT" => ordering == Ordering::Greater,
        "GE" => ordering != Ordering::Less,
        _ => true,
    }
}

/// Whether a provide satisfies a require of the same name.
fn ranges_overlap(provide: &Relation, require: &Relation) -> bool {
    if require.flags.is_empty() || provide.flags.is_empty() {
        return true;
    }
    let ordering = compare_evr(relation_evr(provide), relation_evr(require));
    match provide.flags.as_str() {
        // The usual case: a provide of one exact version.
        "EQ" => op_holds(&require.flags, ordering),
        // A ranged provide: overlap unless the ranges point away from each other.
        "LT" | "LE" => {
            require.flags.starts_with('L')
                || op_holds(&require.flags, ordering)
                || ordering == Ordering::Greater
        }
        _ => {
            require.flags.starts_with('G')
                || op_holds(&require.flags, ordering)
                || ordering == Ordering::Less
        }
    }
}

/// Whether a package's own version matches `relation` (for Obsoletes).
fn version_matches(package: &RpmPackage, relation: &Relation) -> bool {
    if relation.flags.is_empty() {
        return true;
    }
    let ordering = compare_evr(
        (
            &package.epoch.to_string(),
            &package.version,
            Some(&package.release),
        ),
        relation_evr(relation),
    );
    op_holds(&relation.flags, ordering)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name arch epoch:version-release`, then relations: `R name [op evr]` requires,
    /// `P` provides, `O` obsoletes, `F path` files.
    fn package(spec: &str) -> RpmPackage {
        let mut lines = spec.trim().lines();
        let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let (epoch, rest) = head[2].split_once(':').unwrap();
        let (version, release) = rest.split_once('-').unwrap();
        let mut package = RpmPackage {
            name: head[0].to_string(),
            arch: head[1].to_string(),
            epoch: epoch.parse().unwrap(),
            version: version.to_string(),
            release: release.to_string(),
            sha256: None,
            location: format!("Packages/{}.rpm", head[0]),
            size: 1,
            ..RpmPackage::default()
        };
        // rpm makes every package provide its own name at its own version.
        package.provides.push(Relation {
            name: package.name.clone(),
            flags: "EQ".to_string(),
            epoch: Some(epoch.to_string()),
            version: Some(version.to_string()),
            release: Some(release.to_string()),
        });
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            let relation = |words: &[&str]| {
                let mut relation = plain(words[0]);
                if words.len() == 3 {
                    relation.flags = words[1].to_string();
                    let (epoch, rest) = words[2].split_once(':').unwrap_or(("0", words[2]));
                    let (version, release) = match rest.split_once('-') {
                        Some((version, release)) => (version, Some(release.to_string())),
                        None => (rest, None),
                    };
                    relation.epoch = Some(epoch.to_string());
                    relation.version = Some(version.to_string());
                    relation.release = release;
                }
                relation
            };
            match words[0] {
                "R" => package.requires.push(relation(&words[1..])),
                "P" => package.provides.push(relation(&words[1..])),
                "O" => package.obsoletes.push(relation(&words[1..])),
                "F" => package.files.push(words[1].to_string()),
                _ => panic!("unknown line {line}"),
            }
        }
        package
    }

    fn resolve(
        specs: &[&str],
        requested: &[&str],
        exclude: &[&str],
    ) -> Result<Vec<String>, Unsatisfiable> {
        let packages: Vec<RpmPackage> = specs.iter().map(|spec| package(spec)).collect();
        let mut universe = Universe::new(&packages, "x86_64", &HashSet::new());
        let requested: Vec<String> = requested.iter().map(|name| name.to_string()).collect();
        let exclude: BTreeSet<String> = exclude.iter().map(|name| name.to_string()).collect();
        closure(&mut universe, &requested, &exclude, true).map(|selected| {
            let mut names: Vec<String> = selected
                .iter()
                .map(|index| packages[*index].nevra())
                .collect();
            names.sort();
            names
        })
    }

    #[test]
    fn versions_provides_files_and_architectures() {
        let specs = [
            "app x86_64 0:1.0-1\nR libfoo GE 0:2.0\nR webserver\nR /usr/bin/tool",
            "libfoo x86_64 0:1.9-1",
            "libfoo x86_64 0:2.4-1",
            "libfoo i686 0:3.0-1",
            "httpd x86_64 0:2.4-1\nP webserver",
            "tools noarch 1:0.1-1\nF /usr/bin/tool",
        ];
        // The newest libfoo of a compatible architecture, a virtual name through Provides, a
        // file through the file list, noarch for an x86_64 system.
        assert_eq!(
            resolve(&specs, &["app"], &[]).unwrap(),
            [
                "app-0:1.0-1.x86_64",
                "httpd-0:2.4-1.x86_64",
                "libfoo-0:2.4-1.x86_64",
                "tools-1:0.1-1.noarch"
            ]
        );
        assert_eq!(
            resolve(&specs, &["app"], &["httpd", "tools"]).unwrap(),
            ["app-0:1.0-1.x86_64", "libfoo-0:2.4-1.x86_64"]
        );
    }

    #[test]
    fn an_obsoleted_package_is_replaced_and_a_missing_one_names_its_chain() {
        let specs = [
            "app x86_64 0:1-1\nR old-lib",
            "old-lib x86_64 0:1-1",
            "new-lib x86_64 0:2-1\nO old-lib LT 0:2\nP old-lib EQ 0:2",
        ];
        assert_eq!(
            resolve(&specs, &["app"], &[]).unwrap(),
            ["app-0:1-1.x86_64", "new-lib-0:2-1.x86_64"]
        );
        let broken = [
            "app x86_64 0:1-1\nR middle",
            "middle x86_64 0:1-1\nR gone GE 0:5",
        ];
        let error = resolve(&broken, &["app"], &[]).unwrap_err();
        assert!(
            error.chain.contains(&"middle".to_string()),
            "{:?}",
            error.chain
        );
        assert!(error.message.contains("gone"), "{}", error.message);
    }

    #[test]
    fn rich_dependencies() {
        assert_eq!(
            parse_rich("(tool-a or tool-b)").unwrap(),
            Rich::Or(vec![
                Rich::Atom(plain("tool-a")),
                Rich::Atom(plain("tool-b"))
            ])
        );
        let nested = parse_rich("(foo >= 1:2.0-3 if (bar and baz) else qux)").unwrap();
        let Rich::If(then, condition, Some(_)) = nested else {
            panic!("not an if-else: {nested:?}");
        };
        let Rich::Atom(relation) = *then else {
            panic!()
        };
        assert_eq!(
            (relation.flags.as_str(), relation.evr()),
            ("GE", "1:2.0-3".to_string())
        );
        assert!(matches!(*condition, Rich::And(_)));
        assert!(parse_rich("(a or b and c)").is_err());
    }

    #[test]
    fn rpm_ordering() {
        let order = |left, right| compare_evr(left, right);
        assert_eq!(
            order(("1", "1.0", None), ("0", "9.9", None)),
            Ordering::Greater
        );
        assert_eq!(
            order(("0", "1.0~rc1", None), ("0", "1.0", None)),
            Ordering::Less
        );
        assert_eq!(
            order(("0", "1.0^post", None), ("0", "1.0", None)),
            Ordering::Greater
        );
        assert_eq!(
            order(("0", "2.0", Some("1")), ("0", "2.0", None)),
            Ordering::Equal
        );
    }
}

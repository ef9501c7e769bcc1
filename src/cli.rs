//! Every clap structure of the command line. Doc comments here are the `--help` text, the man
//! page and the completions; nothing here touches the file system.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Lock, fetch, verify and carry everything an air-gapped Kubernetes install needs.
///
/// On a connected workstation, `airgap lock` pins every artifact of manifests/*.toml in
/// airgap.lock and `airgap materialize --to DIR` writes a verified, signed mirror tree.
/// Inside the enclave, `airgap verify DIR --key KEY` checks that tree offline.
#[derive(Debug, Parser)]
#[command(
    name = "airgap",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run in DIR, the workspace (default: the current directory).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Print only errors and results.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (retries, skipped files, timings).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The download cache (default: the user cache directory, e.g. ~/.cache/airgap).
    #[arg(long, global = true, value_name = "DIR", env = "AIRGAP_CACHE")]
    pub cache: Option<PathBuf>,
}

/// Options of the commands that fetch (lock, materialize, push): shown on those only.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// How many transfers run at once.
    #[arg(short, long, value_name = "N", env = "AIRGAP_JOBS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// A PEM bundle of extra CA certificates to trust (e.g. a TLS-inspecting proxy's).
    #[arg(long, value_name = "FILE", env = "AIRGAP_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds any fetch may take before it must keep up with --min-rate.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "AIRGAP_FETCH_GRACE",
        default_value_t = 120
    )]
    pub fetch_grace: u64,
    /// The average rate a fetch must keep after its grace (bytes per second; K, M, G
    /// suffixes): a server that stalls or trickles is given up.
    #[arg(long, value_name = "RATE", env = "AIRGAP_MIN_RATE", default_value = "16K", value_parser = crate::limits::parse_rate)]
    pub min_rate: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: manifests/ with a commented example of every kind.
    Init(InitArgs),
    /// Resolve manifests/*.toml into airgap.lock.
    Lock(LockArgs),
    /// Fetch what the lock pins, verify it, and write the media tree into DIR.
    Materialize(MaterializeArgs),
    /// Check a media tree offline against its SHA256SUMS, its lock and (with --key) its signature.
    Verify(VerifyArgs),
    /// Show what changed between two lockfiles, artifact by artifact.
    Diff(DiffArgs),
    /// Add a delta (or a full tree) to the enclave's mirror as a new generation, atomically.
    Apply(ApplyArgs),
    /// Print the bill of materials (CycloneDX 1.6 JSON) of a lock, a workspace or a media tree.
    Sbom(SbomArgs),
    /// Serve a media tree read-only: files, apt and yum repositories, and an OCI registry.
    Serve(ServeArgs),
    /// Re-render the configuration of a media tree (config/, kubespray/), e.g. for another URL.
    Render(RenderArgs),
    /// Copy every image of a media tree into an existing registry (Harbor, distribution, Zot).
    Push(PushArgs),
    /// Write manifest entries derived from another tool's own data.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show where the download cache is and what it holds; `prune` what no lock needs.
    Cache(CacheArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory.
    #[command(name = "manpage")]
    ManPage(ManPageArgs),
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: Option<CacheAction>,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Remove what no given workspace's lock needs, and what interrupted runs left.
    Prune(CachePruneArgs),
}

#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// A workspace whose airgap.lock keeps its artifacts in the cache; repeat for several
    /// (default: the current workspace, when it has a lock).
    #[arg(long = "keep-for", value_name = "WORKSPACE")]
    pub keep_for: Vec<PathBuf>,
    /// Keep whatever was added or used within this many hours (another airgap may be using
    /// it right now).
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub keep_recent: u64,
    /// Show what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ManPageArgs {
    /// Write airgap.1 and one page per subcommand (airgap-lock.1, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the workspace (default: the workspace directory).
    pub dir: Option<PathBuf>,
}

/// How the lock may change.
#[derive(Debug, Args, Clone, Default)]
pub struct LockMode {
    /// Fail instead of changing airgap.lock (for CI and reviews).
    #[arg(long)]
    pub locked: bool,
    /// Never use the network: succeed only when every entry is already pinned.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Re-resolve the named entries (all entries when no name is given).
    #[arg(long, value_name = "NAME", num_args = 0..)]
    pub update: Option<Vec<String>>,
    #[command(flatten)]
    pub mode: LockMode,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Args)]
pub struct MaterializeArgs {
    /// The media tree to write (e.g. a mounted USB disk).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// The OpenPGP secret key that signs the media (default: created on first use in the
    /// user config directory, e.g. ~/.config/airgap/signing-key.asc).
    #[arg(long, value_name = "FILE", env = "AIRGAP_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Templates that replace the built-in ones of the rendered configuration, by name
    /// (e.g. DIR/kubespray/offline.yml.j2).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Write a delta: only what OLD (the media tree the enclave holds, or its airgap.lock)
    /// does not have; the metadata stays complete for the new lock.
    #[arg(long, value_name = "OLD")]
    pub since: Option<PathBuf>,
    #[command(flatten)]
    pub mode: LockMode,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The media tree.
    pub dir: PathBuf,
    /// Where the nodes reach the media (replaces the URL the tree was rendered for).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A host of the Kubespray inventory, NAME=ADDRESS/GROUP[,GROUP...]; repeat for each
    /// host. Replaces the hosts the tree was rendered for.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// A client certificate (PEM) on the nodes, for a server run with --client-ca: the
    /// rendered files name this path (the certificate never travels on the media).
    #[arg(
        long,
        value_name = "PATH",
        requires = "client_key",
        conflicts_with = "no_client_auth"
    )]
    pub client_cert: Option<String>,
    /// Its private key on the nodes.
    #[arg(
        long,
        value_name = "PATH",
        requires = "client_cert",
        conflicts_with = "no_client_auth"
    )]
    pub client_key: Option<String>,
    /// For a server run with --htpasswd: the rendered files take the user and password from
    /// the variables PREFIX_USERNAME and PREFIX_PASSWORD (filled in on the node, or read by
    /// Ansible), never from the media.
    #[arg(long, value_name = "PREFIX", conflicts_with = "no_client_auth")]
    pub credentials_from: Option<String>,
    /// Where the nodes keep the enclave CA (default /etc/airgap/enclave-ca.pem), for clients
    /// that take a path (apt, dnf, helm, git).
    #[arg(long, value_name = "PATH", conflicts_with = "no_client_auth")]
    pub ca_on_node: Option<String>,
    /// Forget the client certificate, credentials and CA path the tree was rendered with.
    #[arg(long)]
    pub no_client_auth: bool,
    /// The runtimes to write mirror configuration for, comma-separated: containerd, crio
    /// (also podman, buildah, skopeo), rke2, k3s. Default: all of them. Replaces the tree's
    /// choice; `--runtime all` goes back to all.
    #[arg(long = "runtime", value_name = "LIST")]
    pub runtimes: Vec<String>,
    /// An `airgap serve` replica (HOST:PORT) behind the rendered nginx load balancer
    /// (`config/nginx/balancer.conf`); repeat for each. Replaces the tree's replicas.
    #[arg(long = "replica", value_name = "HOST:PORT")]
    pub replicas: Vec<String>,
    /// The PEM CA certificate behind the server's TLS (for containerd's `ca`).
    #[arg(long, value_name = "FILE", conflicts_with = "no_ca")]
    pub ca: Option<PathBuf>,
    /// Point containerd and Kubespray at this registry ([http://]HOST[/PREFIX]) instead of
    /// the media's server, e.g. after `airgap push`.
    #[arg(long, value_name = "HOST[/PREFIX]", conflicts_with = "no_registry")]
    pub registry: Option<String>,
    /// How names map into --registry: nested keeps the upstream registry in the path, flat
    /// drops it (Kubespray's `*_image_repo: "{{ registry_host }}"`).
    #[arg(long, value_enum, requires = "registry")]
    pub layout: Option<LayoutArg>,
    /// Point containerd and Kubespray at the media's server again.
    #[arg(long)]
    pub no_registry: bool,
    /// Forget the CA the tree was rendered with (the server's certificate is publicly trusted).
    #[arg(long)]
    pub no_ca: bool,
    /// Templates that replace the built-in ones, by name (e.g. DIR/kubespray/offline.yml.j2).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Write the configuration below this directory instead of into the tree (the tree, its
    /// SHA256SUMS and signature stay as they are; no signing key needed).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The OpenPGP secret key that signed the tree (default: the one in the user config
    /// directory); SHA256SUMS is signed again with it.
    #[arg(long, value_name = "FILE", env = "AIRGAP_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The media tree to check.
    pub dir: PathBuf,
    /// The public key the enclave trusts: also check that SHA256SUMS.asc was made with it.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Also check, offline, every signature the lock's `[[policy]]` tables required, against
    /// the trust material on the media.
    #[arg(long)]
    pub policies: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The delta media (or a full tree) to add.
    #[arg(required_unless_present_any = ["rollback", "prune", "keep"])]
    pub delta: Option<PathBuf>,
    /// The mirror: generations/ and the `current` symlink that serve or nginx serves.
    #[arg(long, value_name = "MIRROR")]
    pub to: PathBuf,
    /// The public key the enclave trusts: the delta's SHA256SUMS.asc must verify with it.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["rollback", "prune", "keep"])]
    pub key: Option<PathBuf>,
    /// Switch back to the generation before the current one.
    #[arg(long, conflicts_with = "delta")]
    pub rollback: bool,
    /// Remove every generation but the current one.
    #[arg(long, conflicts_with = "keep")]
    pub prune: bool,
    /// Keep the current generation and the newest N-1 others; remove the rest.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// A lockfile, or a workspace or media tree holding airgap.lock (default: the workspace).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old lockfile (or a workspace or media tree holding airgap.lock).
    pub old: PathBuf,
    /// The new lockfile (or a workspace or media tree holding airgap.lock).
    pub new: PathBuf,
    /// Print JSON for machines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The media tree to serve.
    pub dir: PathBuf,
    /// Address to listen on; repeat for several (IPv6: [::1]:8080). `[::]:P` alone takes
    /// IPv4 clients too; with `0.0.0.0:P` beside it, each takes its own family.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: Vec<std::net::SocketAddr>,
    /// The access log on stderr: `combined` (Apache's and nginx's default), `common`, or
    /// `json` (one object per request).
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "combined")]
    pub log_format: LogFormat,
    /// PEM certificate (chain) for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: only clients presenting a certificate chained to a CA in this PEM file
    /// get through the handshake (needs --tls-cert). SIGHUP reloads it with the certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// HTTP Basic on every route but /healthz, against this htpasswd file (bcrypt entries,
    /// `htpasswd -B`). SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// With --htpasswd: a TOML file whose `open = ["/files/", ...]` lists path prefixes
    /// served without credentials.
    #[arg(long, value_name = "FILE", requires = "htpasswd")]
    pub access: Option<PathBuf>,
    /// Connections served at once; more are refused.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers (slow clients are cut off).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a client may leave the server unable to send (a client that never reads is
    /// cut off, and its connection slot freed).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub send_timeout: u64,
    /// Seconds a connection may stay open with nothing sent either way (a client that
    /// connects and says nothing, or an unused keep-alive connection).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub idle_timeout: u64,
}

/// How `serve` writes its access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Combined,
    Common,
    Json,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LayoutArg {
    /// HOST/PREFIX/<upstream registry>/<path>, e.g. harbor/mirror/registry.k8s.io/pause
    Nested,
    /// HOST/PREFIX/<path>, e.g. harbor/mirror/pause, as Kubespray's *_image_repo expect
    Flat,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The media tree.
    pub dir: PathBuf,
    /// The registry to fill: [http://]HOST[/PREFIX] (https unless http:// is given; a
    /// loopback registry without TLS is reached over plain HTTP).
    #[arg(long, value_name = "HOST[/PREFIX]")]
    pub registry: String,
    /// How names map into the registry.
    #[arg(long, value_enum, default_value = "nested")]
    pub layout: LayoutArg,
    /// The PEM CA certificate of the registry's TLS (enclave registries use private CAs).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Upload blobs in chunks of this many MiB (default: one request per blob, or chunks
    /// when the registry asks for them).
    #[arg(long, value_name = "MIB")]
    pub chunk_size: Option<u64>,
    /// Print what would be sent and how much the registry already has; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Evaluate a Kubespray checkout's defaults and print the files (with Kubespray's sha256)
    /// and images its configuration downloads, as manifest entries.
    Kubespray(ImportKubesprayArgs),
}

#[derive(Debug, Args)]
pub struct ImportKubesprayArgs {
    /// A Kubespray checkout (the directory holding roles/), or a bare repository of one
    /// (e.g. the media's git/kubespray.git).
    pub source: PathBuf,
    /// The revision to read from a bare repository (default: HEAD).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The Kubernetes version (default: Kubespray's own default).
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// The node architectures, Kubespray's names.
    #[arg(
        long,
        value_name = "ARCH",
        value_delimiter = ',',
        default_value = "amd64"
    )]
    pub arch: Vec<String>,
    /// Set an Ansible variable (highest precedence); the value is read as YAML.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// An inventory directory whose group_vars (all, k8s_cluster) override the defaults.
    #[arg(long, value_name = "DIR")]
    pub inventory: Option<PathBuf>,
    /// Every file and image Kubespray knows, enabled or not (as generate_list.sh lists them).
    #[arg(long)]
    pub all: bool,
    /// The nodes' operating system (debian-12, ubuntu-24.04, rocky-9, ...): add the OS
    /// packages Kubespray installs on it as an [[apt]] or [[yum]] entry.
    #[arg(long, value_name = "OS")]
    pub os: Option<String>,
    /// The admin host's Python (X.Y): add the checkout's requirements.txt (Ansible and what
    /// Kubespray needs to run) as a [[pypi]] entry for it.
    #[arg(long, value_name = "X.Y")]
    pub python: Option<String>,
    /// Write the manifest here instead of stdout (atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl Command {
    /// The fetching options, for the commands that fetch.
    pub fn network(&self) -> Option<&NetworkArgs> {
        match self {
            Command::Lock(args) => Some(&args.network),
            Command::Materialize(args) => Some(&args.network),
            Command::Push(args) => Some(&args.network),
            _ => None,
        }
    }
}

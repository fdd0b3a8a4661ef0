//! The command tree: names and flags follow the ORAS CLI so habits carry over.
//!
//! The doc comments here are `--help` text, read in a terminal: no Markdown.
#![allow(clippy::doc_markdown)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use orca::Platform;
use orca::auth::Secret;

/// Exit codes, also printed at the end of `orca --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  failure (any other error)
  2  usage: bad arguments or flags
  3  not found: no such manifest, blob, tag or repository
  4  unauthorized or denied: missing, wrong or insufficient credentials
  5  too large: the artifact exceeds the operation's size limit (TooLargeArtifacts)
  6  not registered: the registry is not in the store registry (ArtifactStoreIsNotRegistered)
  7  unreachable: the registry could not be reached (FailedToConnectToArtifactStore)
  130  interrupted (Ctrl-C); a pull or fetch removes what it was writing

With --output json, a failure prints {\"code\", \"http_status\", \"message\"} on stdout.";

/// orca: push, pull, copy and discover artifacts in OCI registries, the ORAS way.
#[derive(Debug, Parser)]
#[command(
    name = "orca",
    version,
    propagate_version = true,
    after_help = EXIT_CODES_HELP,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutputFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout (errors too).
    Json,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Global options")]
#[allow(clippy::struct_excessive_bools)] // independent switches, as in the ORAS CLI
pub(crate) struct Global {
    /// Talk plain HTTP (no TLS) to the registries named in this command.
    #[arg(long, global = true)]
    pub(crate) plain_http: bool,
    /// Accept any TLS certificate from the registries named in this command (unsafe).
    #[arg(long, global = true)]
    pub(crate) insecure: bool,
    /// A PEM file of CA certificates trusted for every TLS connection the command makes
    /// (registry, token realm, storage redirect, Azure AD authority), besides the platform's
    /// roots and SSL_CERT_FILE.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// The docker-style auth file [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) registry_config: Option<PathBuf>,
    /// The store-registry file [default: the user's config directory,
    /// orca/stores.toml].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "ORCA_STORES",
        hide_env_values = true
    )]
    pub(crate) stores: Option<PathBuf>,
    /// The content cache used by fetch, pull and copy [default: the user's cache directory,
    /// orca/].
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "no_cache")]
    pub(crate) cache: Option<PathBuf>,
    /// Do not use the content cache.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// Exchange an Azure AD token from the environment at the registry for this command
    /// only (nothing is stored).
    #[arg(long, global = true)]
    pub(crate) azure: bool,
    /// Log to stderr: -v for info, -vv for debug, -vvv for trace (credentials are never
    /// printed).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Log at debug level to stderr (same as -vv).
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    /// Print results as text or as one JSON document.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub(crate) output: OutputFormat,
    /// Hide progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    pub(crate) no_progress: bool,
}

/// A credential given on the command line: `login` stores it; every other command uses it
/// for the registries it names, for this command only (nothing is stored), as ORAS's
/// `-u/-p` do.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Credentials (login stores them; other commands use them once)")]
pub(crate) struct CredentialArgs {
    /// The user name, for the registries named in this command.
    #[arg(short, long, conflicts_with = "azure")]
    pub(crate) username: Option<String>,
    /// The password (prefer --password-stdin: arguments are visible to other users).
    #[arg(
        short,
        long,
        value_parser = secret,
        conflicts_with_all = ["password_stdin", "identity_token", "identity_token_stdin", "azure"]
    )]
    pub(crate) password: Option<Secret>,
    /// Read the password from stdin (its first line).
    #[arg(long, conflicts_with_all = ["identity_token", "identity_token_stdin", "azure"])]
    pub(crate) password_stdin: bool,
    /// An identity (refresh) token instead of a password.
    #[arg(long, value_parser = secret, conflicts_with_all = ["identity_token_stdin", "azure"])]
    pub(crate) identity_token: Option<Secret>,
    /// Read the identity (refresh) token from stdin (its first line).
    #[arg(long, conflicts_with = "azure")]
    pub(crate) identity_token_stdin: bool,
}

impl CredentialArgs {
    /// Whether any credential flag was given.
    pub(crate) fn given(&self) -> bool {
        self.username.is_some()
            || self.password.is_some()
            || self.password_stdin
            || self.identity_token.is_some()
            || self.identity_token_stdin
    }

    /// Whether the credential is to be read from stdin.
    pub(crate) fn reads_stdin(&self) -> bool {
        self.password_stdin || self.identity_token_stdin
    }
}

/// A credential flag set for one side of `copy` (ORAS's `--from-*`, `--to-*`): `$prefix`
/// names the flags (`from` gives `--from-username`), `$whose` the registry in the help.
macro_rules! side_credential_args {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $whose:literal, $heading:literal) => {
        $(#[$meta])*
        #[derive(Debug, Args, Clone, Default)]
        #[command(next_help_heading = $heading)]
        pub(crate) struct $name {
            #[arg(
                long = concat!($prefix, "-username"),
                id = concat!($prefix, "_username"),
                value_name = "USERNAME",
                help = concat!("The user name for the ", $whose, " registry"),
                conflicts_with = "azure"
            )]
            pub(crate) username: Option<String>,
            #[arg(
                long = concat!($prefix, "-password"),
                id = concat!($prefix, "_password"),
                value_name = "PASSWORD",
                value_parser = secret,
                help = concat!(
                    "The password for the ", $whose, " registry (prefer --", $prefix,
                    "-password-stdin)"
                ),
                conflicts_with_all = [
                    concat!($prefix, "_password_stdin"),
                    concat!($prefix, "_identity_token"),
                    "azure",
                ]
            )]
            pub(crate) password: Option<Secret>,
            #[arg(
                long = concat!($prefix, "-password-stdin"),
                id = concat!($prefix, "_password_stdin"),
                help = concat!("Read the ", $whose, " registry's password from stdin (its first line)"),
                conflicts_with_all = [concat!($prefix, "_identity_token"), "azure"]
            )]
            pub(crate) password_stdin: bool,
            #[arg(
                long = concat!($prefix, "-identity-token"),
                id = concat!($prefix, "_identity_token"),
                value_name = "TOKEN",
                value_parser = secret,
                help = concat!("An identity (refresh) token for the ", $whose, " registry"),
                conflicts_with = "azure"
            )]
            pub(crate) identity_token: Option<Secret>,
        }

        impl From<&$name> for CredentialArgs {
            fn from(side: &$name) -> CredentialArgs {
                CredentialArgs {
                    username: side.username.clone(),
                    password: side.password.clone(),
                    password_stdin: side.password_stdin,
                    identity_token: side.identity_token.clone(),
                    identity_token_stdin: false,
                }
            }
        }
    };
}

side_credential_args!(
    /// `copy`'s credential for its source registry alone; it wins over `-u/-p` there.
    FromCredentialArgs,
    "from",
    "source",
    "Source credentials (for the source registry only; used once)"
);

side_credential_args!(
    /// `copy`'s credential for its destination registry alone; it wins over `-u/-p` there.
    ToCredentialArgs,
    "to",
    "destination",
    "Destination credentials (for the destination registry only; used once)"
);

/// A secret argument, kept out of `Debug` output.
#[allow(clippy::unnecessary_wraps)] // clap's value parsers return a Result
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Login(LoginArgs),
    Logout(LogoutArgs),
    Push(PushArgs),
    Attach(AttachArgs),
    Pull(PullArgs),
    Fetch(FetchArgs),
    Copy(CopyArgs),
    Tag(TagArgs),
    Resolve(ResolveArgs),
    Repo(RepoArgs),
    Manifest(ManifestArgs),
    Blob(BlobArgs),
    Discover(DiscoverArgs),
    Delete(DeleteArgs),
    Store(StoreArgs),
    Cache(CacheArgs),
    Serve(ServeArgs),
    Demo(DemoArgs),
    Completion(CompletionArgs),
}

/// Log in to a registry; the login is stored in docker's config.json.
///
/// The credential goes through `credHelpers`/`credsStore` when config.json names one, so
/// docker, skopeo and ORAS see the same login.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca login myacr.azurecr.io -u admin -p \"$PASSWORD\"
  echo \"$PASSWORD\" | orca login localhost:5000 -u admin --password-stdin
  orca login myacr.azurecr.io --identity-token \"$REFRESH_TOKEN\"
  orca login myacr.azurecr.io --azure           # what `az acr login` does, without az
  orca pull myacr.azurecr.io/app:v1 --azure     # Azure AD from the environment, nothing stored

With --azure, the environment's Azure AD credential (AZURE_CLIENT_SECRET with
AZURE_TENANT_ID and AZURE_CLIENT_ID; workload identity's AZURE_FEDERATED_TOKEN_FILE; a
managed identity: IDENTITY_ENDPOINT, or the instance metadata service; else the Azure
CLI's account; AZURE_AUTHORITY_HOST honoured) is exchanged at the registry's
/oauth2/exchange for an ACR refresh token, stored as the identitytoken of the user
00000000-0000-0000-0000-000000000000 as `az acr login` stores it. Later commands use it
without --azure until it expires (ACR: about three hours).")]
pub(crate) struct LoginArgs {
    /// The registry, e.g. myacr.azurecr.io or localhost:5000.
    pub(crate) registry: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Remove a registry's login from docker's config.json.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  orca logout myacr.azurecr.io")]
pub(crate) struct LogoutArgs {
    /// The registry.
    pub(crate) registry: String,
}

/// Push files or folders as one artifact.
///
/// Each FILE becomes a layer titled with its name; FILE:MEDIATYPE sets the layer's media
/// type. A folder is packed as ORAS does: one tar+gzip layer annotated
/// io.deis.oras.content.unpack=true.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca push localhost:5000/samples/config:v1 config.json
  orca push myacr.azurecr.io/samples/myapp:v1 config.json:application/json readme.txt:text/plain
  orca push myacr.azurecr.io/configs/app:prod ./config-folder/
  orca push myacr.azurecr.io/helm/chart:1.0.0 chart.tgz:application/vnd.cncf.helm.chart.content.v1.tar+gzip
  orca push localhost:5000/app:sig --subject localhost:5000/app:v1 --artifact-type application/vnd.example.signature sig.json")]
pub(crate) struct PushArgs {
    /// The reference to push to, e.g. registry/repository:tag.
    pub(crate) reference: String,
    /// Files (FILE or FILE:MEDIATYPE) and folders to push.
    #[arg(value_name = "FILE[:MEDIATYPE]|DIR")]
    pub(crate) files: Vec<String>,
    /// The manifest's artifactType.
    #[arg(long, value_name = "TYPE")]
    pub(crate) artifact_type: Option<String>,
    /// A manifest annotation KEY=VALUE (repeatable).
    #[arg(short, long = "annotation", value_name = "KEY=VALUE")]
    pub(crate) annotations: Vec<String>,
    /// A JSON file of annotations, ORAS style: {"$manifest": {...}, "FILE": {...}}.
    #[arg(long, value_name = "FILE")]
    pub(crate) annotation_file: Option<PathBuf>,
    /// The config blob, FILE:MEDIATYPE.
    #[arg(long, value_name = "FILE[:MEDIATYPE]")]
    pub(crate) config: Option<String>,
    /// Attach the artifact to this manifest as a referrer.
    #[arg(long, value_name = "REF")]
    pub(crate) subject: Option<String>,
    /// Also write the pushed manifest to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) export_manifest: Option<PathBuf>,
    /// How many blobs to upload at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    /// Upload files at least this large while a second reader hashes them, instead of
    /// hashing first (e.g. 64MiB; 0 for every file). A file changed meanwhile fails the
    /// push. Folders are always hashed as they are packed. [default: 16MiB]
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub(crate) overlap_from: Option<u64>,
    /// How the manifest is packed: v1.1 (artifactType and the empty config, ORAS's
    /// default) or v1.0 (the artifact type as the config's media type, no artifactType:
    /// for registries that predate image-spec 1.1).
    #[arg(long, value_enum, default_value_t, conflicts_with_all = ["config", "subject"])]
    pub(crate) image_spec: ImageSpec,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// `push --image-spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ImageSpec {
    /// image-spec 1.1.
    #[default]
    #[value(name = "v1.1")]
    V1_1,
    /// image-spec 1.0.
    #[value(name = "v1.0")]
    V1_0,
}

/// Attach files to a manifest as a referrer (a signature, an SBOM, a note), as `oras
/// attach` does.
///
/// The referrer is pushed by digest into the subject's repository, without a tag, and
/// found through `orca discover SUBJECT`. Without files, the annotations alone are the
/// referrer.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca attach localhost:5000/app:v1 --artifact-type application/vnd.example.signature sig.json
  orca attach myacr.azurecr.io/app@sha256:... --artifact-type application/spdx+json sbom.spdx.json
  orca attach localhost:5000/app:v1 --artifact-type application/vnd.example.note -a reviewed=yes")]
pub(crate) struct AttachArgs {
    /// The manifest to attach to (the subject).
    pub(crate) subject: String,
    /// Files (FILE or FILE:MEDIATYPE) and folders to attach.
    #[arg(value_name = "FILE[:MEDIATYPE]|DIR")]
    pub(crate) files: Vec<String>,
    /// The referrer's artifactType (what `discover --artifact-type` filters on).
    #[arg(long, value_name = "TYPE", required = true)]
    pub(crate) artifact_type: String,
    /// A manifest annotation KEY=VALUE (repeatable).
    #[arg(short, long = "annotation", value_name = "KEY=VALUE")]
    pub(crate) annotations: Vec<String>,
    /// A JSON file of annotations, ORAS style: {"$manifest": {...}, "FILE": {...}}.
    #[arg(long, value_name = "FILE")]
    pub(crate) annotation_file: Option<PathBuf>,
    /// Also write the pushed manifest to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) export_manifest: Option<PathBuf>,
    /// How many blobs to upload at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    /// Of an index, attach to its manifest for this platform: os[/arch[/variant]].
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// A size with an optional unit (`16MiB`, `1GB`, `4096`), for clap.
fn size_arg(text: &str) -> Result<u64, String> {
    orca::store::parse_size(text).map_err(|e| e.to_string())
}

/// Pull an artifact's files into a folder.
///
/// ORAS semantics: layers with an org.opencontainers.image.title are written as files;
/// layers annotated io.deis.oras.content.unpack=true are extracted as folders.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca pull localhost:5000/samples/config:v1
  orca pull myacr.azurecr.io/samples/myapp:v1 -o ./artifacts/
  orca pull myacr.azurecr.io/samples/tools:v1 --platform linux/arm64   # one entry of an index
  orca pull myacr.azurecr.io/folders/site:v1 -o ./site --unpack-all   # folders pushed by the oras Python package")]
pub(crate) struct PullArgs {
    /// The reference to pull.
    pub(crate) reference: String,
    /// The folder to write into [default: the current folder]. (`--output` is the global
    /// output format; use -o or --output-dir for the folder.)
    #[arg(
        short = 'o',
        long = "output-dir",
        value_name = "DIR",
        default_value = "."
    )]
    pub(crate) output_dir: PathBuf,
    /// Also pull the subject the artifact refers to.
    #[arg(long)]
    pub(crate) include_subject: bool,
    /// Extract every tar+gzip layer, as the oras Python package expects for folders it
    /// pushed.
    #[arg(long)]
    pub(crate) unpack_all: bool,
    /// The platform to pull: os[/arch[/variant]][:os_version], e.g. linux/arm64. An index
    /// (a multi-platform artifact) gives its manifest for it; a single image must be for
    /// it (its config says); an artifact names no platform and is refused.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    /// How many blobs to download at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Fetch an artifact for an operation: the service path.
///
/// The registry must be in the store registry and the operation's size limit is enforced
/// before anything is downloaded; a failure shows the service's error code.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca store add myacr.azurecr.io --azure --limit anonymization=10MiB
  orca fetch myacr.azurecr.io/configs/anonymization:default --operation anonymization -o ./config
  orca fetch localhost:5000/configs/a@sha256:... --operation anonymization -o ./config --output json")]
pub(crate) struct FetchArgs {
    /// The reference to fetch.
    pub(crate) reference: String,
    /// The operation whose limits apply, as registered with `store add --limit`.
    #[arg(long, value_name = "NAME")]
    pub(crate) operation: String,
    /// The folder to write into.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub(crate) output_dir: PathBuf,
    /// The platform to fetch: os[/arch[/variant]][:os_version], e.g. linux/arm64. An index
    /// (a multi-platform artifact) gives its manifest for it; a single image must be for
    /// it (its config says); an artifact names no platform and is refused.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
}

/// Copy an artifact from one registry or repository to another.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca copy myacr.azurecr.io/samples/config:v1 myacr2.azurecr.io/samples/config:v1
  orca copy -r localhost:5000/app:v1 localhost:6000/app:v1     # with its referrers
  orca copy --platform linux/arm64 localhost:5000/app:v1 localhost:6000/app:v1-arm64
  orca copy --to-username ci --to-password-stdin ghcr.io/org/app:v1 myacr.azurecr.io/app:v1

-u/-p name a credential for both registries; --from-*/--to-* one for each side alone.")]
pub(crate) struct CopyArgs {
    /// The source reference.
    pub(crate) source: String,
    /// The destination reference.
    pub(crate) destination: String,
    /// Copy the artifact's referrers too (signatures, SBOMs, ...), recursively.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// How many blobs to copy at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    /// Copy only the manifest for this platform: os[/arch[/variant]][:os_version]. From an
    /// index, its entry for it (the index is not copied; the destination's tag names that
    /// manifest); a single image must be for it; an artifact names no platform.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
    #[command(flatten)]
    pub(crate) from: FromCredentialArgs,
    #[command(flatten)]
    pub(crate) to: ToCredentialArgs,
}

/// Give a manifest more tags.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca tag localhost:5000/app:v1 v1.0 latest
  orca tag localhost:5000/app@sha256:... stable")]
pub(crate) struct TagArgs {
    /// The manifest to tag.
    pub(crate) reference: String,
    /// The new tags.
    #[arg(required = true)]
    pub(crate) tags: Vec<String>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Print the digest a reference resolves to.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca resolve localhost:5000/app:v1
  orca resolve myacr.azurecr.io/app:v1 --output json
  orca resolve localhost:5000/tools:v1 --platform linux/arm64   # the entry of an index")]
pub(crate) struct ResolveArgs {
    /// The reference.
    pub(crate) reference: String,
    /// The platform to resolve for: os[/arch[/variant]][:os_version], e.g. linux/arm64. An
    /// index gives the digest of the manifest it lists for it; a single image must be for
    /// it (its config says).
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    /// Print REGISTRY/REPOSITORY@DIGEST instead of the digest alone.
    #[arg(short = 'l', long)]
    pub(crate) full_reference: bool,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Repositories and their tags.
#[derive(Debug, Args)]
pub(crate) struct RepoArgs {
    #[command(subcommand)]
    pub(crate) command: RepoCommand,
}

/// `repo` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// List a registry's repositories (the catalog).
    #[command(
        visible_alias = "list",
        after_help = "\
Examples:
  orca repo ls localhost:5000
  orca repo ls myacr.azurecr.io/samples     # only repositories under samples/"
    )]
    Ls(RepoLsArgs),
    /// List a repository's tags.
    #[command(after_help = "\
Examples:
  orca repo tags localhost:5000/samples/config
  orca repo tags localhost:5000/samples/config --last v1
  orca repo tags localhost:5000/samples/config --long     # digest and artifact type of each")]
    Tags(RepoTagsArgs),
}

/// Arguments of `repo ls`.
#[derive(Debug, Args)]
pub(crate) struct RepoLsArgs {
    /// REGISTRY or REGISTRY/NAMESPACE.
    #[arg(value_name = "REGISTRY[/NAMESPACE]")]
    pub(crate) target: String,
    /// Start after this repository (pagination).
    #[arg(long, value_name = "NAME")]
    pub(crate) last: Option<String>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Arguments of `repo tags`.
#[derive(Debug, Args)]
pub(crate) struct RepoTagsArgs {
    /// The repository, REGISTRY/REPOSITORY.
    pub(crate) repository: String,
    /// Start after this tag (pagination).
    #[arg(long, value_name = "TAG")]
    pub(crate) last: Option<String>,
    /// Show each tag's digest and artifact type.
    #[arg(short, long)]
    pub(crate) long: bool,
    /// Leave out digest-like tags (`sha256-…`: the referrers tag schema's indexes, which
    /// `attach` leaves on registries without the referrers API).
    #[arg(long)]
    pub(crate) exclude_digest_tags: bool,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Manifests.
#[derive(Debug, Args)]
pub(crate) struct ManifestArgs {
    #[command(subcommand)]
    pub(crate) command: ManifestCommand,
}

/// `manifest` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ManifestCommand {
    /// Print a manifest.
    #[command(
        visible_alias = "get",
        after_help = "\
Examples:
  orca manifest fetch localhost:5000/app:v1
  orca manifest fetch localhost:5000/app:v1 --pretty
  orca manifest fetch localhost:5000/app:v1 --descriptor
  orca manifest fetch localhost:5000/tools:v1 --platform linux/arm64"
    )]
    Fetch(ManifestFetchArgs),
    /// Print a manifest's config (verified), as `oras manifest fetch-config`.
    #[command(after_help = "\
Examples:
  orca manifest fetch-config localhost:5000/app:v1
  orca manifest fetch-config localhost:5000/tools:v1 --platform linux/arm64 -O config.json
  orca manifest fetch-config localhost:5000/app:v1 --descriptor")]
    FetchConfig(ManifestFetchConfigArgs),
    /// Push a manifest or index from a file (or stdin), e.g. an index of one artifact per
    /// platform.
    #[command(after_help = "\
Examples:
  orca manifest push localhost:5000/app:v1 manifest.json
  orca manifest push localhost:5000/tools:v1,latest index.json
  orca manifest push localhost:5000/tools@sha256:... - < index.json

What it names (layers, config, or an index's manifests) must be in the repository
already: the registry refuses the push otherwise.")]
    Push(ManifestPushArgs),
    /// Delete a manifest (and so every tag pointing at it).
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  orca manifest delete localhost:5000/app:v1\n  orca manifest delete localhost:5000/app@sha256:..."
    )]
    Delete(ReferenceArg),
}

/// Arguments of `manifest fetch`.
#[derive(Debug, Args)]
pub(crate) struct ManifestFetchArgs {
    /// The reference.
    pub(crate) reference: String,
    /// Print the manifest's descriptor instead of the manifest.
    #[arg(long)]
    pub(crate) descriptor: bool,
    /// Indent the JSON.
    #[arg(long)]
    pub(crate) pretty: bool,
    /// The platform to fetch: os[/arch[/variant]][:os_version], e.g. linux/arm64. An index
    /// gives the manifest it lists for it; a single image must be for it (its config
    /// says).
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Arguments of `manifest fetch-config`.
#[derive(Debug, Args)]
pub(crate) struct ManifestFetchConfigArgs {
    /// The manifest's reference.
    pub(crate) reference: String,
    /// Print the config's descriptor instead of its bytes.
    #[arg(long)]
    pub(crate) descriptor: bool,
    /// Write the config to FILE instead of stdout.
    #[arg(short = 'O', long = "output-file", value_name = "FILE")]
    pub(crate) output_file: Option<PathBuf>,
    /// Of an index, the config of its manifest for this platform: os[/arch[/variant]].
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Arguments of `manifest push`.
#[derive(Debug, Args)]
pub(crate) struct ManifestPushArgs {
    /// Where to push: REGISTRY/REPOSITORY[:TAG[,TAG…]] or @DIGEST (the bytes must hash to
    /// it); without either, by its digest.
    pub(crate) reference: String,
    /// The manifest's file, or - for stdin (at most 4 MiB).
    pub(crate) file: PathBuf,
    /// The media type; by default the file's mediaType field (a manifest without one needs
    /// this).
    #[arg(long, value_name = "TYPE")]
    pub(crate) media_type: Option<String>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// One reference.
#[derive(Debug, Args)]
pub(crate) struct ReferenceArg {
    /// The reference.
    pub(crate) reference: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Blobs.
#[derive(Debug, Args)]
pub(crate) struct BlobArgs {
    #[command(subcommand)]
    pub(crate) command: BlobCommand,
}

/// `blob` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BlobCommand {
    /// Download a blob (size and digest verified).
    #[command(after_help = "\
Examples:
  orca blob fetch localhost:5000/app@sha256:... -O layer.tar.gz
  orca blob fetch localhost:5000/app@sha256:... -O - > layer.tar.gz
  orca blob fetch localhost:5000/app@sha256:... --descriptor")]
    Fetch(BlobFetchArgs),
    /// Upload a file as a blob (skipped when the registry has it).
    #[command(after_help = "\
Examples:
  orca blob push localhost:5000/app layer.tar.gz
  orca blob push localhost:5000/app@sha256:... layer.tar.gz   # the registry checks the digest
  tar czf - ./site | orca blob push localhost:5000/app - --descriptor")]
    Push(BlobPushArgs),
    /// Delete a blob.
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  orca blob delete localhost:5000/app@sha256:..."
    )]
    Delete(ReferenceArg),
}

/// Arguments of `blob fetch`.
#[derive(Debug, Args)]
pub(crate) struct BlobFetchArgs {
    /// REGISTRY/REPOSITORY@DIGEST.
    #[arg(value_name = "REF@DIGEST")]
    pub(crate) reference: String,
    /// Write the blob to FILE, or to stdout with `-`.
    #[arg(
        short = 'O',
        long = "output-file",
        value_name = "FILE",
        required_unless_present = "descriptor"
    )]
    pub(crate) output_file: Option<PathBuf>,
    /// Print the blob's descriptor (from a HEAD request) instead of downloading it.
    #[arg(long)]
    pub(crate) descriptor: bool,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Arguments of `blob push`.
#[derive(Debug, Args)]
pub(crate) struct BlobPushArgs {
    /// REGISTRY/REPOSITORY, or REGISTRY/REPOSITORY@DIGEST to skip hashing the file first
    /// (the registry refuses bytes that do not match; a blob it has is not read at all).
    #[arg(value_name = "REF[@DIGEST]")]
    pub(crate) reference: String,
    /// The file to upload, or `-` for stdin (spooled to a temporary file first).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Print the blob's descriptor (as JSON) instead of a summary.
    #[arg(long)]
    pub(crate) descriptor: bool,
    /// The media type the printed descriptor says.
    #[arg(long, value_name = "TYPE", default_value = "application/octet-stream")]
    pub(crate) media_type: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// How `discover` draws referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum DiscoverFormat {
    /// An indented tree.
    #[default]
    Tree,
    /// One row per referrer.
    Table,
    /// JSON (same as --output json).
    Json,
}

/// Show the artifacts that refer to a manifest (signatures, SBOMs, ...), as a tree.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca discover localhost:5000/app:v1
  orca discover localhost:5000/app:v1 --artifact-type application/spdx+json
  orca discover localhost:5000/app:v1 --format table")]
pub(crate) struct DiscoverArgs {
    /// The subject.
    pub(crate) reference: String,
    /// Only referrers of this artifact type.
    #[arg(long, value_name = "TYPE")]
    pub(crate) artifact_type: Option<String>,
    /// How to draw the result.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: DiscoverFormat,
    /// How deep to follow referrers of referrers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub(crate) depth: u8,
    /// Of an index, the referrers of its manifest for this platform: os[/arch[/variant]].
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<Platform>,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// Delete an artifact (its manifest).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  orca delete localhost:5000/app:v1")]
pub(crate) struct DeleteArgs {
    /// The reference.
    pub(crate) reference: String,
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// The store registry: the registries `fetch` may use, their credentials and limits.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    pub(crate) command: StoreCommand,
}

/// `store` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Register a registry (replacing an earlier entry for it).
    ///
    /// The global --plain-http, --ca-file and --azure flags given here are recorded with
    /// the entry.
    #[command(after_help = "\
Examples:
  orca store add myacr.azurecr.io --azure --limit anonymization=10MiB
  orca store add localhost:5000 --plain-http --limit export=1GiB
  orca store add registry.example --ca-file ca.pem --username-env REG_USER --password-env REG_PASS
  orca store add ghcr.io --docker-config")]
    Add(StoreAddArgs),
    /// List registered registries.
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  orca store list\n  orca store list --output json"
    )]
    List,
    /// Unregister a registry.
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  orca store remove localhost:5000"
    )]
    Remove(StoreRemoveArgs),
}

/// Arguments of `store add`.
#[derive(Debug, Args)]
pub(crate) struct StoreAddArgs {
    /// The registry, e.g. myacr.azurecr.io.
    pub(crate) registry: String,
    /// The user name (with --password-env).
    #[arg(
        long,
        value_name = "NAME",
        requires = "password_env",
        conflicts_with = "username_env"
    )]
    pub(crate) username: Option<String>,
    /// Read the user name from this environment variable at each use (with
    /// --password-env); only the variable's name is written to the file.
    #[arg(long, value_name = "VAR", requires = "password_env")]
    pub(crate) username_env: Option<String>,
    /// Read the password from this environment variable at each use (it is never
    /// written to the file).
    #[arg(long, value_name = "VAR", conflicts_with = "docker_config")]
    pub(crate) password_env: Option<String>,
    /// Use the login in docker's config.json.
    #[arg(long)]
    pub(crate) docker_config: bool,
    /// A size limit OPERATION=SIZE (e.g. anonymization=10MiB; repeatable).
    #[arg(long = "limit", value_name = "OPERATION=SIZE")]
    pub(crate) limits: Vec<String>,
}

/// Arguments of `store remove`.
#[derive(Debug, Args)]
pub(crate) struct StoreRemoveArgs {
    /// The registry.
    pub(crate) registry: String,
}

/// The local content cache, and the pull-through cache rules and credential sets.
#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    #[command(subcommand)]
    pub(crate) command: CacheCommand,
}

/// `cache` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// List what the cache holds.
    #[command(
        after_help = "Examples:\n  orca cache ls\n  orca cache ls --cache /tmp/orca-cache --output json"
    )]
    Ls,
    /// Remove cached blobs until the cache holds at most --max-size.
    #[command(after_help = "Examples:\n  orca cache prune\n  orca cache prune --max-size 1GiB")]
    Prune(CachePruneArgs),
    /// Pull-through cache rules: which repositories of the cache registry are fetched from
    /// which upstream (kept in the store-registry file).
    Rule(CacheRuleArgs),
    /// Named credentials for upstream registries, used by cache rules. Only references
    /// (variable names, a file path, a credential helper's name) are written to the file,
    /// never a secret.
    CredentialSet(CredentialSetArgs),
}

/// `cache rule` subcommands.
#[derive(Debug, Args)]
pub(crate) struct CacheRuleArgs {
    #[command(subcommand)]
    pub(crate) command: CacheRuleCommand,
}

/// `cache rule` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheRuleCommand {
    /// Add a rule mapping TARGET (a repository of the cache registry) to UPSTREAM.
    ///
    /// TARGET is a repository (library/nginx) or a wildcard (library/*, or * for every
    /// repository); UPSTREAM is registry/repository, with /* when TARGET is a wildcard: the
    /// part TARGET's * matched replaces UPSTREAM's *. A static target beats a wildcard; among
    /// wildcards the longest fixed prefix wins; at most 1000 rules; a target already used is
    /// refused. The upstream's TLS settings (plain HTTP, CA file) come from its
    /// `orca store add` entry, if any. Fetches of --registry (or of the cache registry set
    /// earlier) go through the rules: `orca fetch`, `pull`, `resolve` and `manifest fetch`
    /// find the artifact in the cache registry, else copy it there from the upstream first.
    #[command(after_help = "\
Examples:
  orca cache rule add 'library/*' 'docker.io/library/*' --credential-set hub --registry localhost:5000
  orca cache rule add library/nginx ghcr.io/nginx/nginx
  orca cache rule add '*' 'quay.io/*'")]
    Add(CacheRuleAddArgs),
    /// List the rules, the cache registry and the strict-overlap option.
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  orca cache rule list\n  orca cache rule list --output json"
    )]
    List,
    /// Remove the rule for TARGET.
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  orca cache rule remove 'library/*'"
    )]
    Remove(CacheRuleRemoveArgs),
    /// Show or change the rules' settings: the cache registry whose fetches go through the
    /// rules, and whether overlapping wildcard targets are refused (ACR's behaviour).
    #[command(after_help = "\
Examples:
  orca cache rule config
  orca cache rule config --registry localhost:5000 --strict-overlap true
  orca cache rule config --no-registry")]
    Config(CacheRuleConfigArgs),
}

/// Arguments of `cache rule config`.
#[derive(Debug, Args)]
pub(crate) struct CacheRuleConfigArgs {
    /// Make REGISTRY (a registered store) the cache registry.
    #[arg(long, value_name = "REGISTRY", conflicts_with = "no_registry")]
    pub(crate) registry: Option<String>,
    /// Unset the cache registry: fetches no longer go through the rules.
    #[arg(long)]
    pub(crate) no_registry: bool,
    /// Refuse (true) or allow (false) wildcard targets that overlap; turning it on is
    /// refused while two rules overlap.
    #[arg(long, value_name = "BOOL")]
    pub(crate) strict_overlap: Option<bool>,
}

/// Arguments of `cache rule add`.
#[derive(Debug, Args)]
pub(crate) struct CacheRuleAddArgs {
    /// The repository or wildcard of the cache registry: library/nginx, library/*, *.
    pub(crate) target: String,
    /// Where it is fetched from: docker.io/library/nginx, docker.io/library/*.
    pub(crate) upstream: String,
    /// Authenticate upstream with this credential set (see `orca cache credential-set
    /// add`); without it the upstream is pulled anonymously.
    #[arg(long, value_name = "NAME")]
    pub(crate) credential_set: Option<String>,
    /// Make REGISTRY (a registered store) the cache registry whose fetches go through the
    /// rules.
    #[arg(long, value_name = "REGISTRY")]
    pub(crate) registry: Option<String>,
}

/// Arguments of `cache rule remove`.
#[derive(Debug, Args)]
pub(crate) struct CacheRuleRemoveArgs {
    /// The rule's target, as listed.
    pub(crate) target: String,
}

/// `cache credential-set` subcommands.
#[derive(Debug, Args)]
pub(crate) struct CredentialSetArgs {
    #[command(subcommand)]
    pub(crate) command: CredentialSetCommand,
}

/// `cache credential-set` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CredentialSetCommand {
    /// Add (or replace) a credential set: a user name and where the password or token is
    /// read each time it is used.
    #[command(after_help = "\
Examples:
  orca cache credential-set add hub --username-env HUB_USER --password-env HUB_TOKEN
  orca cache credential-set add quay --username robot --password-file /run/secrets/quay
  orca cache credential-set add ghcr --helper pass")]
    Add(CredentialSetAddArgs),
    /// List the credential sets (references only).
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  orca cache credential-set list --output json"
    )]
    List,
    /// Remove a credential set (refused while a rule uses it).
    #[command(
        visible_alias = "rm",
        after_help = "Examples:\n  orca cache credential-set remove hub"
    )]
    Remove(CredentialSetRemoveArgs),
}

/// Arguments of `cache credential-set add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("secret").required(true).args(["password_env", "password_file", "helper"])))]
pub(crate) struct CredentialSetAddArgs {
    /// The set's name (letters, digits, _ and -).
    pub(crate) name: String,
    /// The user name, written in the file.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["username_env", "helper"])]
    pub(crate) username: Option<String>,
    /// The environment variable holding the user name, read at each use.
    #[arg(long, value_name = "VAR", conflicts_with = "helper")]
    pub(crate) username_env: Option<String>,
    /// The environment variable holding the password or token, read at each use.
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,
    /// A file holding the password or token, read at each use (whitespace trimmed).
    #[arg(long, value_name = "PATH")]
    pub(crate) password_file: Option<PathBuf>,
    /// A docker credential helper (docker-credential-NAME) asked for the upstream's user
    /// name and secret at each use.
    #[arg(long, value_name = "NAME")]
    pub(crate) helper: Option<String>,
}

/// Arguments of `cache credential-set remove`.
#[derive(Debug, Args)]
pub(crate) struct CredentialSetRemoveArgs {
    /// The set's name.
    pub(crate) name: String,
}

/// Arguments of `cache prune`.
#[derive(Debug, Args)]
pub(crate) struct CachePruneArgs {
    /// The size to prune down to [default: 0, everything].
    #[arg(long, value_name = "SIZE", default_value = "0")]
    pub(crate) max_size: String,
}

/// Authentication modes of the embedded registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ServeAuth {
    /// Anyone may pull and push.
    #[default]
    None,
    /// HTTP Basic with the --user accounts.
    Basic,
    /// A Docker-style token service for the --user accounts.
    Bearer,
    /// Azure Container Registry's token exchange.
    Acr,
}

/// Run the embedded registry, or with --cache-rules a pull-through cache, until interrupted.
///
/// With --cache-rules it serves pulls only (GET and HEAD of manifests and blobs, and
/// /metrics): a repository matching a cache rule of the store registry (`orca cache rule
/// add`) is served from --storage, or fetched from the rule's upstream with its credential
/// set, verified, stored and streamed; a repository matching no rule is served from
/// --storage or gets 404. Each answer says `Orca-Cache: hit|miss|revalidated|stale`.
///
/// With --backing instead of --storage it keeps what it fetches in an existing registry
/// (docker-registry, Harbor, ACR; registered with `orca store add` for its TLS settings
/// and credentials) by pushing it there, so several fronts can share one backing
/// registry. A manifest is pushed once its blobs are there, and held in memory until then.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca serve --addr 127.0.0.1:5000
  orca serve --addr 127.0.0.1:5000 --storage /var/lib/orca-registry
  orca serve --auth basic --user admin:secret
  orca serve --tls-cert cert.pem --tls-key key.pem --auth basic --user admin:secret
  orca pull 127.0.0.1:5000/app:v1 --ca-file cert.pem     # trust a self-signed certificate
  orca cache rule add 'library/*' 'docker.io/library/*'
  orca serve --cache-rules --storage /var/cache/orca-front --addr 127.0.0.1:5000 --revalidate 5m
  orca serve --cache-rules --storage /var/cache/orca-front --auth basic --users-file /etc/orca/front-users
  orca store add registry.internal:5000 --ca-file /etc/orca/internal-ca.pem
  orca serve --cache-rules --backing registry.internal:5000/cache --addr 127.0.0.1:5000")]
pub(crate) struct ServeArgs {
    /// The address to listen on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub(crate) addr: std::net::SocketAddr,
    /// Keep content in this directory instead of memory.
    #[arg(long, value_name = "DIR", group = "front_storage")]
    pub(crate) storage: Option<PathBuf>,
    /// With --storage: do not fsync blobs before acknowledging them.
    #[arg(long, requires = "storage")]
    pub(crate) no_fsync: bool,
    /// Authentication mode.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) auth: ServeAuth,
    /// A user NAME:PASSWORD with full access (repeatable; with --cache-rules, who may
    /// pull). The command line is visible to other local users: prefer --users-file.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub(crate) users: Vec<String>,
    /// Users from a file, a NAME:PASSWORD per line, or an htpasswd line NAME:$2y$… (bcrypt,
    /// as `htpasswd -B` writes and distribution reads); blank lines and lines starting
    /// with # are skipped; with --user, both count.
    #[arg(long, value_name = "FILE")]
    pub(crate) users_file: Option<PathBuf>,
    /// In bearer and acr modes, let anonymous callers pull.
    #[arg(long)]
    pub(crate) anonymous_pull: bool,
    /// In acr mode, an Azure AD token accepted at /oauth2/exchange (repeatable).
    #[arg(long = "aad-token", value_name = "TOKEN")]
    pub(crate) aad_tokens: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first) instead of plain HTTP.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve as a pull-through cache of the store registry's cache rules, keeping what it
    /// fetches in --storage or --backing (pulls only; --auth none or basic; HTTPS with
    /// --tls-cert).
    #[arg(long, requires = "front_storage", conflicts_with_all = ["no_fsync", "aad_tokens", "anonymous_pull"])]
    pub(crate) cache_rules: bool,
    /// With --cache-rules, instead of --storage: keep what it fetches in this registry
    /// (a registered store), under the repository prefix if one is given.
    #[arg(
        long,
        value_name = "REGISTRY[/PREFIX]",
        requires = "cache_rules",
        group = "front_storage"
    )]
    pub(crate) backing: Option<String>,
    /// With --cache-rules: how long a tag confirmed upstream is served before it is
    /// checked again (`90s`, `5m`, `1h`; `0s` checks every time) [default: 60s].
    #[arg(long, value_name = "DURATION", requires = "cache_rules")]
    pub(crate) revalidate: Option<String>,
    /// With --cache-rules and --storage: keep at most this much content (e.g. 50GiB); the
    /// least recently used blobs go beyond it and are fetched upstream again when asked
    /// for [default: unbounded].
    #[arg(long, value_name = "SIZE", value_parser = size_arg, requires = "cache_rules", requires = "storage")]
    pub(crate) max_size: Option<u64>,
    /// How many client connections are served at once; more wait until one ends.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) max_connections: u32,
}

/// A guided round trip on an embedded registry: push a folder, list, fetch, compare,
/// attach a referrer, discover it, and see a size limit refuse a fetch.
///
/// Nothing outside a temporary directory is touched and no network is used beyond
/// 127.0.0.1.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca demo
  orca demo ./my-config-folder
  orca demo --output json")]
pub(crate) struct DemoArgs {
    /// The folder to push [default: a small sample made in a temporary directory].
    pub(crate) dir: Option<PathBuf>,
}

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  orca completion bash > /etc/bash_completion.d/orca
  orca completion zsh > \"${fpath[1]}/_orca\"
  orca completion fish > ~/.config/fish/completions/orca.fish")]
pub(crate) struct CompletionArgs {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}

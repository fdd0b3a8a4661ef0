//! One module per group of commands; [`run`] dispatches.

mod artifact;
mod blob;
mod cache_rules;
mod demo;
mod inspect;
mod login;
mod serve;
mod stores;
mod types;

use orca::auth::Credential;

use crate::args::{
    BlobCommand, CacheCommand, CacheRuleCommand, Cli, Command, CompletionArgs, CredentialArgs,
    CredentialSetCommand, ManifestCommand, RepoCommand, StoreCommand,
};
use crate::context::{
    Context, GivenCredentials, given_credential, given_credential_with, registry_of,
};
use crate::exit::Failure;
use crate::output::Printer;

/// Run the parsed command line.
pub(crate) async fn run(cli: Cli, printer: Printer) -> Result<(), Failure> {
    let Cli { global, command } = cli;
    let credentials = given_credentials(&command)?;
    let ctx = Context::new(global, printer, credentials);
    match &command {
        Command::Login(args) => login::login(&ctx, args).await,
        Command::Logout(args) => login::logout(&ctx, args),
        Command::Push(args) => artifact::push(&ctx, args).await,
        Command::Attach(args) => artifact::attach(&ctx, args).await,
        Command::Pull(args) => artifact::pull(&ctx, args).await,
        Command::Fetch(args) => artifact::fetch(&ctx, args).await,
        Command::Copy(args) => artifact::copy(&ctx, args).await,
        Command::Tag(args) => inspect::tag(&ctx, args).await,
        Command::Resolve(args) => inspect::resolve(&ctx, args).await,
        Command::Repo(repo) => match &repo.command {
            RepoCommand::Ls(args) => inspect::repo_ls(&ctx, args).await,
            RepoCommand::Tags(args) => inspect::repo_tags(&ctx, args).await,
        },
        Command::Manifest(manifest) => match &manifest.command {
            ManifestCommand::Fetch(args) => inspect::manifest_fetch(&ctx, args).await,
            ManifestCommand::FetchConfig(args) => inspect::manifest_fetch_config(&ctx, args).await,
            ManifestCommand::Push(args) => artifact::manifest_push(&ctx, args).await,
            ManifestCommand::Delete(args) => inspect::manifest_delete(&ctx, args).await,
        },
        Command::Blob(blob) => match &blob.command {
            BlobCommand::Fetch(args) => blob::fetch(&ctx, args).await,
            BlobCommand::Push(args) => blob::push(&ctx, args).await,
            BlobCommand::Delete(args) => blob::delete(&ctx, args).await,
        },
        Command::Discover(args) => inspect::discover(&ctx, args).await,
        Command::Delete(args) => inspect::delete_artifact(&ctx, args).await,
        Command::Store(store) => match &store.command {
            StoreCommand::Add(args) => stores::add(&ctx, args),
            StoreCommand::List => stores::list(&ctx),
            StoreCommand::Remove(args) => stores::remove(&ctx, args),
        },
        Command::Cache(cache) => match &cache.command {
            CacheCommand::Ls => stores::cache_ls(&ctx),
            CacheCommand::Prune(args) => stores::cache_prune(&ctx, args),
            CacheCommand::Rule(rule) => match &rule.command {
                CacheRuleCommand::Add(args) => cache_rules::add(&ctx, args),
                CacheRuleCommand::List => cache_rules::list(&ctx),
                CacheRuleCommand::Remove(args) => cache_rules::remove(&ctx, args),
                CacheRuleCommand::Config(args) => cache_rules::config(&ctx, args),
            },
            CacheCommand::CredentialSet(set) => match &set.command {
                CredentialSetCommand::Add(args) => cache_rules::add_set(&ctx, args),
                CredentialSetCommand::List => cache_rules::list_sets(&ctx),
                CredentialSetCommand::Remove(args) => cache_rules::remove_set(&ctx, args),
            },
        },
        Command::Serve(args) => serve::serve(&ctx, args).await,
        Command::Demo(args) => demo::demo(&ctx, args).await,
        Command::Completion(args) => {
            completion(args);
            Ok(())
        }
    }
}

/// `orca completion SHELL`: the script from `clap_complete`, which generates it from the
/// same clap tree the binary parses with, so it never drifts from the real flags.
fn completion(args: &CompletionArgs) {
    let mut command = crate::command();
    clap_complete::generate(args.shell, &mut command, "orca", &mut std::io::stdout());
}

/// The credential flags a command uses for this run only (`login` stores its own).
fn credential_args(command: &Command) -> Option<&CredentialArgs> {
    Some(match command {
        Command::Push(args) => &args.credentials,
        Command::Attach(args) => &args.credentials,
        Command::Pull(args) => &args.credentials,
        Command::Copy(args) => &args.credentials,
        Command::Tag(args) => &args.credentials,
        Command::Resolve(args) => &args.credentials,
        Command::Repo(repo) => match &repo.command {
            RepoCommand::Ls(args) => &args.credentials,
            RepoCommand::Tags(args) => &args.credentials,
        },
        Command::Manifest(manifest) => match &manifest.command {
            ManifestCommand::Fetch(args) => &args.credentials,
            ManifestCommand::FetchConfig(args) => &args.credentials,
            ManifestCommand::Push(args) => &args.credentials,
            ManifestCommand::Delete(args) => &args.credentials,
        },
        Command::Blob(blob) => match &blob.command {
            BlobCommand::Fetch(args) => &args.credentials,
            BlobCommand::Push(args) => &args.credentials,
            BlobCommand::Delete(args) => &args.credentials,
        },
        Command::Discover(args) => &args.credentials,
        Command::Delete(args) => &args.credentials,
        Command::Login(_)
        | Command::Logout(_)
        | Command::Fetch(_)
        | Command::Store(_)
        | Command::Cache(_)
        | Command::Serve(_)
        | Command::Demo(_)
        | Command::Completion(_) => return None,
    })
}

/// The credentials the command line gives for this run: `-u/-p` for every registry the
/// command names, and `copy`'s `--from-*/--to-*` for its source's or destination's
/// registry alone. At most one is read from stdin, and none when stdin carries content.
fn given_credentials(command: &Command) -> Result<GivenCredentials, Failure> {
    let Some(args) = credential_args(command) else {
        return Ok(GivenCredentials::default());
    };
    // (flag prefix, which side, its reference, its flags)
    let sides: Vec<(&str, &str, &str, CredentialArgs)> = match command {
        Command::Copy(copy) => vec![
            (
                "from",
                "source",
                &copy.source,
                CredentialArgs::from(&copy.from),
            ),
            (
                "to",
                "destination",
                &copy.destination,
                CredentialArgs::from(&copy.to),
            ),
        ],
        _ => Vec::new(),
    };
    let from_stdin = std::iter::once(args)
        .chain(sides.iter().map(|side| &side.3))
        .filter(|a| a.reads_stdin())
        .count();
    if from_stdin > 1 {
        return Err(Failure::usage(
            "stdin can carry one credential only: give the others with a password or \
             identity-token flag, or after orca login",
        ));
    }
    if from_stdin == 1 && reads_stdin(command) {
        return Err(Failure::usage(
            "stdin cannot carry both the content (-) and the credential: give the \
             content as a file, or the credential with -p or after orca login",
        ));
    }
    let all = given_credential(args)?
        .map(|(username, secret)| Credential::from_username_secret(&username, secret));
    let mut by_registry: Vec<(String, Credential)> = Vec::new();
    for (prefix, side, reference, side_args) in sides {
        let Some((username, secret)) = given_credential_with(&side_args, Some(prefix))? else {
            continue;
        };
        let registry = registry_of(reference).ok_or_else(|| {
            Failure::usage(format!(
                "--{prefix}-*: the {side} {reference:?} names no registry (host[:port]/repository)"
            ))
        })?;
        // Registry names are compared as the credential store keys them: case-insensitively.
        if by_registry
            .iter()
            .any(|(r, _)| r.eq_ignore_ascii_case(&registry))
        {
            return Err(Failure::usage(format!(
                "source and destination are both on {registry}, where one credential serves \
                 both: give it once (-u/-p, or --from-* alone)"
            )));
        }
        by_registry.push((
            registry,
            Credential::from_username_secret(&username, secret),
        ));
    }
    Ok(GivenCredentials { all, by_registry })
}

/// Whether the command reads its content from stdin (`-` as the file).
fn reads_stdin(command: &Command) -> bool {
    let dash = |path: &std::path::Path| path == std::path::Path::new("-");
    match command {
        Command::Blob(blob) => matches!(&blob.command, BlobCommand::Push(args) if dash(&args.file)),
        Command::Manifest(manifest) => {
            matches!(&manifest.command, ManifestCommand::Push(args) if dash(&args.file))
        }
        _ => false,
    }
}

//! Scenario suite proving orca's client against the mock registry and real registries.
//!
//! Scenarios are data ([`Scenario`]: name, group, what it needs, a run function), grouped as
//! pull, push, discovery, management, auth, transport and limits. [`run`] runs every
//! scenario against every [`Target`]: the mock registry in each auth mode (none, basic,
//! bearer token service, ACR exchange) with its fault injection, and real registries given
//! by URL. A scenario that a target cannot serve is skipped with a reason; a run produces
//! a [`Report`] (a table on stdout and JSON on disk).
//!
//! This crate does network IO to the registries it is given and to loopback mocks only.

mod report;
mod scenarios;
mod store;
mod support;
mod target;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

pub use report::{Outcome, Report, ScenarioResult};
pub use scenarios::scenarios;
pub use support::Ctx;
pub use target::{MockMode, RealTarget, Target};

/// The future a scenario's run function returns.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;

/// What a scenario is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Resolving and fetching manifests and blobs.
    Pull,
    /// Uploading blobs and manifests.
    Push,
    /// Tags, catalog and referrers.
    Discovery,
    /// Deletes.
    Management,
    /// Credentials and tokens.
    Auth,
    /// Faults of the network and the registry: retries, resumes, redirects, reuse.
    Transport,
    /// Size caps and verification.
    Limits,
    /// The facade's service path (`orca::ArtifactStore`): registered stores, limits,
    /// ORAS layouts and every error code.
    Store,
}

impl Group {
    /// The group's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Pull => "pull",
            Group::Push => "push",
            Group::Discovery => "discovery",
            Group::Management => "management",
            Group::Auth => "auth",
            Group::Transport => "transport",
            Group::Limits => "limits",
            Group::Store => "store",
        }
    }

    /// Every group.
    pub const ALL: [Group; 8] = [
        Group::Pull,
        Group::Push,
        Group::Discovery,
        Group::Management,
        Group::Auth,
        Group::Transport,
        Group::Limits,
        Group::Store,
    ];
}

/// What a scenario needs from its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Any registry.
    Any,
    /// The mock registry (fault injection, request log, special configurations); the
    /// string says why, and is the skip reason on real registries.
    Mock(&'static str),
    /// A target that requires credentials.
    Credentials,
    /// The mock registry with a token service (bearer or ACR mode).
    TokenService,
    /// A target served over TLS.
    Tls,
}

/// One named check.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// `group/name`-style unique name.
    pub name: &'static str,
    /// The group.
    pub group: Group,
    /// What it needs.
    pub needs: Needs,
    /// The check.
    pub run: fn(Arc<Ctx>) -> ScenarioFuture,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

/// Why a scenario failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<orca_distribution::Error> for Failure {
    fn from(e: orca_distribution::Error) -> Self {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        Failure(text)
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure(s.to_owned())
    }
}

/// Fail with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), Failure> {
    if condition {
        Ok(())
    } else {
        Err(Failure(message()))
    }
}

/// Why `scenario` cannot run against `ctx`'s target, if it cannot.
fn skip_reason(scenario: &Scenario, ctx: &Ctx) -> Option<String> {
    match scenario.needs {
        Needs::Any => None,
        Needs::Mock(why) => ctx
            .mock
            .is_none()
            .then(|| format!("needs the mock registry: {why}")),
        Needs::Credentials => {
            (!ctx.has_credentials()).then(|| "the target requires no credentials".to_owned())
        }
        Needs::Tls => (!ctx.tls()).then(|| "the target speaks plain HTTP".to_owned()),
        Needs::TokenService => (!ctx.token_service())
            .then(|| "needs a token service (the mock in bearer or ACR mode)".to_owned()),
    }
}

/// Run `scenarios` against `target`, printing a line per scenario to stderr as it goes.
pub async fn run_target(
    target: &Target,
    scenarios: &[Scenario],
    report: &mut Report,
) -> Result<(), Failure> {
    let Some(ctx) = Ctx::open(target).await? else {
        for s in scenarios {
            let skip = Outcome::Skip(target.unavailable_reason());
            report.push(ScenarioResult::new(s, &target.label(), skip, 0));
        }
        return Ok(());
    };
    let ctx = Arc::new(ctx);
    let label = ctx.label.clone();
    for scenario in scenarios {
        if let Some(reason) = skip_reason(scenario, &ctx) {
            report.push(ScenarioResult::new(
                scenario,
                &label,
                Outcome::Skip(reason),
                0,
            ));
            continue;
        }
        let started = Instant::now();
        let fut = (scenario.run)(ctx.clone());
        let outcome = match tokio::time::timeout(std::time::Duration::from_secs(300), fut).await {
            Ok(Ok(())) => Outcome::Pass,
            Ok(Err(f)) => Outcome::Fail(f.0),
            Err(_) => Outcome::Fail("timed out after 300 s".into()),
        };
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        eprintln!(
            "  {:<5} {:<45} {:<22} {millis} ms",
            outcome.word(),
            scenario.name,
            label
        );
        if let Outcome::Fail(why) = &outcome {
            eprintln!("        {why}");
        }
        if let Some(mock) = &ctx.mock {
            mock.faults().clear();
            mock.faults().expire_tokens_after(None);
        }
        report.push(ScenarioResult::new(scenario, &label, outcome, millis));
    }
    Ok(())
}

/// Run every scenario against every target.
pub async fn run(targets: &[Target]) -> Result<Report, Failure> {
    let all = scenarios();
    let mut report = Report::default();
    for target in targets {
        eprintln!("target {}", target.label());
        run_target(target, &all, &mut report).await?;
    }
    Ok(report)
}

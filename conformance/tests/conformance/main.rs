//! The suite as part of `cargo test`: every scenario against the mock in each auth mode,
//! and the real-registry scenarios against Debian's `docker-registry` (plain, and TLS with
//! basic auth) when it is installed.

use orca_conformance::{MockMode, Outcome, Report, Target, run, scenarios};

fn check(report: &Report, expected_results: usize) {
    print!("{}", report.table());
    assert_eq!(
        report.results.len(),
        expected_results,
        "every scenario reports once per target"
    );
    let failed = report.failed();
    assert!(
        failed.is_empty(),
        "{} scenarios failed: {:#?}",
        failed.len(),
        failed
    );
    for r in &report.results {
        if let Outcome::Skip(reason) = &r.outcome {
            assert!(
                !reason.trim().is_empty(),
                "{} skipped without a reason",
                r.scenario
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_mock_in_every_auth_mode() {
    let targets: Vec<Target> = MockMode::ALL.into_iter().map(Target::Mock).collect();
    let report = run(&targets).await.expect("suite runs");
    check(&report, scenarios().len() * targets.len());
    // Against the mock, only the auth scenarios that need credentials or a token service
    // (in the modes without them) and the TLS scenarios (the mock speaks plain HTTP) may
    // be skipped.
    for r in &report.results {
        if let Outcome::Skip(reason) = &r.outcome {
            let auth = r.scenario.starts_with("auth/")
                && (r.target == "mock/none" || r.target == "mock/basic");
            let tls = r.scenario.starts_with("transport/tls-") && reason.contains("plain HTTP");
            assert!(
                auth || tls,
                "{} skipped on {}: {reason}",
                r.scenario,
                r.target
            );
        }
    }
    assert_eq!(report.passed() + report.skipped(), report.results.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_scenarios_pass_against_docker_registry() {
    let targets = [
        Target::Reference { tls_basic: false },
        Target::Reference { tls_basic: true },
    ];
    let report = run(&targets).await.expect("suite runs");
    if report.passed() == 0 {
        let reason = report
            .results
            .first()
            .map(|r| format!("{:?}", r.outcome))
            .unwrap_or_default();
        println!("skipped: docker-registry is not available ({reason})");
        check(&report, scenarios().len() * targets.len());
        return;
    }
    check(&report, scenarios().len() * targets.len());
}

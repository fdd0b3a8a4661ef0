//! `--help` of every command (insta snapshots) and the usage exit code.

use crate::harness::Home;

/// Every command path, e.g. `["repo", "tags"]`.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

#[test]
fn help_of_every_command() {
    let mut root = orca_cli::command().term_width(100);
    root.build();
    let mut paths = Vec::new();
    command_paths(&root, &[], &mut paths);
    // 19 commands, 2 repo, 4 manifest, 3 blob, 3 store and 4 cache subcommands, 4 cache
    // rule and 3 cache credential-set subcommands.
    assert_eq!(paths.len(), 42, "{paths:?}");
    insta::assert_snapshot!("orca", root.render_long_help().to_string());
    for path in &paths {
        let mut cmd = &mut root;
        for name in path {
            cmd = cmd.find_subcommand_mut(name).unwrap();
        }
        let help = cmd.render_long_help().to_string();
        let leaf = cmd.get_subcommands().all(|s| s.get_name() == "help");
        if leaf {
            assert!(
                help.contains("Examples:"),
                "`orca {}` has no examples",
                path.join(" ")
            );
        }
        insta::assert_snapshot!(format!("orca {}", path.join(" ")), help);
    }
}

#[test]
fn help_and_version_exit_zero_usage_errors_exit_two() {
    let home = Home::new();
    let help = home.run(&["--help"]);
    help.success();
    assert!(help.stdout.contains("Exit codes:"));
    assert!(help.stdout.contains("7  unreachable"));
    home.run(&["--version"]).success();
    home.run(&["push", "--help"]).success();

    let bad = home.run(&["push"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("REFERENCE"), "{}", bad.stderr);
    assert!(bad.stdout.is_empty());

    // ORAS habit: `--output DIR`; the hint names -o.
    let oras_habit = home.run(&["pull", "localhost:5000/a:1", "--output", "./dir"]);
    assert_eq!(oras_habit.code, 2);
    assert!(
        oras_habit.stderr.contains("-o DIR"),
        "{}",
        oras_habit.stderr
    );

    let bad = home.run(&["--output", "json", "pull", "--no-such-flag", "x"]);
    let v = bad.fails_with(2, "InvalidArgument");
    assert!(
        v["message"].as_str().unwrap().contains("--no-such-flag"),
        "{v}"
    );
}

#[test]
fn completion_scripts_name_the_commands() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = home.run(&["completion", shell]);
        run.success();
        assert!(run.stdout.contains("discover"), "{shell}");
    }
    assert_eq!(home.run(&["completion", "tcsh"]).code, 2);
}

#[test]
fn copy_side_credentials_are_checked_before_any_request() {
    let home = Home::new();
    // Nothing listens on these ports: a usage error is found before any connection.
    let (from, to) = ("127.0.0.1:9/team/app:v1", "127.0.0.1:10/mirror/app:v1");
    // `orca copy SOURCE DESTINATION ARGS…`: a usage error; what it printed.
    let usage = |source: &str, destination: &str, args: &str| {
        let mut all = vec!["copy", source, destination, "--output", "json"];
        all.extend(args.split_whitespace());
        let run = home.run(&all);
        run.fails_with(2, "InvalidArgument");
        run.stdout
    };
    let half = usage(from, to, "--to-username bob");
    assert!(half.contains("--to-password"), "{half}");
    let half = usage(from, to, "--from-password alice-pass");
    assert!(half.contains("--from-username"), "{half}");
    let two = usage(
        from,
        to,
        "-u alice --password-stdin --to-username bob --to-password-stdin",
    );
    assert!(two.contains("one credential"), "{two}");
    let both = "--from-username alice --from-password a --to-username bob --to-password b";
    let one_registry = usage(from, "127.0.0.1:9/other/app:v1", both);
    assert!(
        one_registry.contains("both on 127.0.0.1:9"),
        "{one_registry}"
    );
    // Host names that differ only in case name the same registry.
    let cased = usage("Registry.Example:9/a:1", "registry.example:9/b:1", both);
    assert!(cased.contains("both on"), "{cased}");
    let no_registry = usage("team/app:v1", to, "--from-username alice --from-password a");
    assert!(no_registry.contains("names no registry"), "{no_registry}");
    let azure = home.run(&["copy", from, to, "--to-username", "bob", "--azure"]);
    assert_eq!(azure.code, 2, "{}", azure.stderr);
}

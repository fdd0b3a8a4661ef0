//! Progress bars: drawn on a terminal, absent when stderr is piped.

use std::fs;
use std::process::Command;

use crate::harness::{Home, Served};

/// Under a pseudo-terminal (util-linux `script`), `orca push` draws bars with a rate and
/// ends each with "done"; piped, stderr stays empty.
#[test]
fn bars_render_on_a_terminal_and_vanish_when_piped() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("skipped: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    let home = Home::new();
    let reg = Served::start(&home, &[]);
    let file = home.join("big.bin");
    fs::write(&file, vec![7u8; 3 << 20]).unwrap();
    let reference = reg.at("bars/app:v1");

    let piped = home.run(&["push", "--plain-http", &reference, file.to_str().unwrap()]);
    piped.success();
    assert!(
        piped.stderr.is_empty(),
        "stderr when piped: {:?}",
        piped.stderr
    );

    let orca = env!("CARGO_BIN_EXE_orca");
    let out = home.join("out");
    let command = format!(
        "{orca} pull --plain-http --no-cache {reference} -o {}",
        out.display()
    );
    let mut script = home.orca();
    // `home.orca()` sets the environment; run `script` with it instead of orca.
    let env: Vec<(std::ffi::OsString, std::ffi::OsString)> = script
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    script = Command::new("script");
    script.env_clear().envs(env).env("TERM", "xterm").args([
        "-q",
        "-e",
        "-c",
        &command,
        "/dev/null",
    ]);
    let run = script.output().unwrap();
    let terminal = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{terminal}");
    assert!(
        terminal.contains("big.bin"),
        "no bar for the layer: {terminal:?}"
    );
    assert!(
        terminal.contains("done"),
        "the bar did not finish: {terminal:?}"
    );
    assert_eq!(fs::read(out.join("big.bin")).unwrap().len(), 3 << 20);
}

//! Snapshots of error messages: what a person reading a log sees.

use std::fmt::Write as _;

use orca_reference::Reference;

use crate::SHA256_F;

#[test]
fn error_messages() {
    let strict = [
        String::new(),
        "team/app:1".into(),
        "ubuntu".into(),
        "myacr.azurecr.io/Team/app".into(),
        "myacr.azurecr.io/app:v1!".into(),
        "myacr.azurecr.io/app:-v1".into(),
        "myacr.azurecr.io/app:".into(),
        format!("myacr.azurecr.io/app:{}", "t".repeat(129)),
        "myacr.azurecr.io/team//app".into(),
        "myacr.azurecr.io/team/app-".into(),
        "myacr.azurecr.io/te..am/app".into(),
        "myacr.azurecr.io/tëam/app".into(),
        format!("myacr.azurecr.io/{}", "a".repeat(256)),
        "my_acr.azurecr.io/app".into(),
        "-myacr.azurecr.io/app".into(),
        "http://localhost:5000/app".into(),
        "MyHost/app".into(),
        "localhost:99999/app".into(),
        "[fe80::1%eth0]:5000/app".into(),
        "[::1/app".into(),
        "a.io/app@sha256:abc".into(),
        format!("a.io/app@sha256:{}", "A".repeat(64)),
        "a.io/app@sha256".into(),
        format!("a.io/app@SHA256:{}", &SHA256_F[7..]),
        "a.io/app@sha--256:abc".into(),
        "a.io/app@foo:".into(),
        "a.io/app@".into(),
        "a.io/app\n".into(),
        format!("a.io/{}", "é".repeat(400)),
    ];
    let normalized = [
        "Ubuntu".to_owned(),
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a".into(),
        "a".repeat(248),
    ];
    assert_eq!(strict.len() + normalized.len(), 32);
    let mut out = String::new();
    for input in &strict {
        let e = Reference::parse(input).expect_err(input);
        writeln!(out, "parse({input:?})\n  {e}").expect("writing to a String");
    }
    for input in &normalized {
        let e = Reference::parse_normalized(input).expect_err(input);
        writeln!(out, "parse_normalized({input:?})\n  {e}").expect("writing to a String");
    }
    let e = Reference::new("team", "app").expect_err("no registry");
    writeln!(out, "new(\"team\", \"app\")\n  {e}").expect("writing to a String");
    let e = Reference::new("a.io", "x")
        .and_then(|r| r.with_tag("v 1"))
        .expect_err("bad tag");
    writeln!(out, "with_tag(\"v 1\")\n  {e}").expect("writing to a String");
    insta::assert_snapshot!(out);
}

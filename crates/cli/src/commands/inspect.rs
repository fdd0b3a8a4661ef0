//! `resolve`, `tag`, `repo`, `manifest`, `discover` and `delete`: looking at and managing
//! what a registry holds.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;

use orca::{ArtifactStore, Descriptor, Digest, ManifestContent, Reference};
use serde_json::{Value, json};

use crate::args::{
    DeleteArgs, DiscoverArgs, DiscoverFormat, ManifestFetchArgs, ManifestFetchConfigArgs,
    ReferenceArg, RepoLsArgs, RepoTagsArgs, ResolveArgs, TagArgs,
};
use crate::commands::types;
use crate::context::{Access, Context};
use crate::exit::Failure;

/// The `io.deis.oras.content.unpack` annotation: a layer that is a packed folder.
const ORAS_UNPACK: &str = "io.deis.oras.content.unpack";

fn terminal_store(ctx: &Context, names: &[&str]) -> Result<ArtifactStore, Failure> {
    ctx.artifact_store(names, Access::Terminal, None, false)
        .map(|(store, _)| store)
}

/// `orca resolve`.
pub(crate) async fn resolve(ctx: &Context, args: &ResolveArgs) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.reference])?;
    let descriptor = resolve_for(&store, &args.reference, args.platform.as_ref()).await?;
    if args.full_reference {
        let full = format!("{}@{}", repository_of(&args.reference)?, descriptor.digest);
        return ctx
            .printer
            .result(&full, &json!({"reference": full, "descriptor": descriptor}));
    }
    ctx.printer.result(descriptor.digest.as_str(), &descriptor)
}

/// The descriptor `reference` resolves to; of an index with `platform`, its entry's.
pub(crate) async fn resolve_for(
    store: &ArtifactStore,
    reference: &str,
    platform: Option<&orca::Platform>,
) -> Result<Descriptor, Failure> {
    Ok(match platform {
        Some(platform) => {
            store
                .fetch_manifest_for(reference, platform)
                .await?
                .descriptor
        }
        None => store.resolve(reference).await?,
    })
}

/// `orca tag`.
pub(crate) async fn tag(ctx: &Context, args: &TagArgs) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.reference])?;
    let tags: Vec<&str> = args.tags.iter().map(String::as_str).collect();
    let descriptor = store.tag(&args.reference, &tags).await?;
    let repository = repository_of(&args.reference)?;
    let mut text = String::new();
    for t in &tags {
        let _ = writeln!(text, "Tagged {repository}:{t}");
    }
    let _ = write!(text, "Digest: {}", descriptor.digest);
    ctx.printer.result(
        &text,
        &json!({
            "reference": args.reference,
            "tags": tags,
            "descriptor": descriptor,
        }),
    )
}

/// `orca repo ls`.
pub(crate) async fn repo_ls(ctx: &Context, args: &RepoLsArgs) -> Result<(), Failure> {
    let (registry, namespace) = match args.target.split_once('/') {
        Some((r, ns)) => (r, Some(ns.trim_end_matches('/'))),
        None => (args.target.as_str(), None),
    };
    let store = terminal_store(ctx, &[registry])?;
    let all = store.catalog(registry).await?;
    let prefix = namespace.map(|ns| format!("{ns}/"));
    let names: Vec<String> = all
        .into_iter()
        .filter_map(|name| match &prefix {
            Some(p) => name.strip_prefix(p.as_str()).map(str::to_owned),
            None => Some(name),
        })
        .filter(|name| args.last.as_ref().is_none_or(|last| name > last))
        .collect();
    ctx.printer.result(
        &names.join("\n"),
        &json!({"registry": registry, "namespace": namespace, "repositories": names}),
    )
}

/// `orca repo tags`.
pub(crate) async fn repo_tags(ctx: &Context, args: &RepoTagsArgs) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.repository])?;
    let repository = repository_of(&args.repository)?;
    let tags: Vec<String> = store
        .tags(&args.repository)
        .await?
        .into_iter()
        .filter(|t| args.last.as_ref().is_none_or(|last| t > last))
        .filter(|t| !(args.exclude_digest_tags && is_digest_tag(t)))
        .collect();
    if !args.long {
        return ctx.printer.result(
            &tags.join("\n"),
            &json!({"repository": repository, "tags": tags}),
        );
    }
    let mut rows = Vec::with_capacity(tags.len());
    for t in &tags {
        let content = store.fetch_manifest(&format!("{repository}:{t}")).await?;
        let manifest = &content.manifest;
        let artifact_type = manifest
            .artifact_type()
            .map(str::to_owned)
            .or_else(|| manifest.config().map(|c| c.media_type.clone()))
            .or_else(|| {
                manifest
                    .is_index()
                    .then(|| manifest.media_type().to_owned())
            });
        let folder = manifest
            .layers()
            .iter()
            .any(|l| l.annotation(ORAS_UNPACK) == Some("true"));
        rows.push((t.clone(), content.descriptor, artifact_type, folder));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(3).max(3);
    let mut text = format!("{:width$}  {:71}  {:>10}  TYPE\n", "TAG", "DIGEST", "SIZE");
    for (t, d, at, folder) in &rows {
        let _ = writeln!(
            text,
            "{t:width$}  {:71}  {:>10}  {}",
            d.digest.as_str(),
            d.size,
            types::describe(at.as_deref(), *folder)
        );
    }
    let value: Vec<Value> = rows
        .iter()
        .map(|(t, d, at, folder)| {
            json!({
                "tag": t,
                "digest": d.digest.to_string(),
                "mediaType": d.media_type,
                "size": d.size,
                "artifactType": at,
                "typeName": types::describe(at.as_deref(), *folder),
            })
        })
        .collect();
    ctx.printer
        .result(&text, &json!({"repository": repository, "tags": value}))
}

/// `orca manifest fetch`.
pub(crate) async fn manifest_fetch(ctx: &Context, args: &ManifestFetchArgs) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.reference])?;
    if let Some(platform) = &args.platform {
        let content = store.fetch_manifest_for(&args.reference, platform).await?;
        return print_manifest(ctx, args, &content);
    }
    if args.descriptor {
        let descriptor = store.resolve(&args.reference).await?;
        let text = serde_json::to_string_pretty(&descriptor)
            .map_err(|e| Failure::other(format!("printing the descriptor: {e}")))?;
        return ctx.printer.result(&text, &descriptor);
    }
    let content = store.fetch_manifest(&args.reference).await?;
    print_manifest(ctx, args, &content)
}

/// A tag that reads as a digest of a known algorithm once its first `-` is a `:`
/// (`sha256-<64 hex>`), as ORAS decides it.
fn is_digest_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(algorithm, hex)| {
        Digest::parse(&format!("{algorithm}:{hex}"))
            .is_ok_and(|d| d.algorithm().encoded_len().is_some())
    })
}

/// `orca manifest fetch-config`: the config's bytes as received (their digest is the
/// config's), to stdout or `-O FILE`, or its descriptor.
pub(crate) async fn manifest_fetch_config(
    ctx: &Context,
    args: &ManifestFetchConfigArgs,
) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.reference])?;
    let (descriptor, bytes) = store
        .fetch_config(&args.reference, args.platform.as_ref())
        .await?;
    if args.descriptor {
        let text = serde_json::to_string_pretty(&descriptor)
            .map_err(|e| Failure::other(format!("printing the descriptor: {e}")))?;
        return ctx.printer.result(&text, &descriptor);
    }
    if let Some(path) = &args.output_file {
        std::fs::write(path, &bytes).map_err(|e| Failure::io("writing the config to", path, &e))?;
        return ctx.printer.result(
            &format!(
                "Wrote the config {} to {}",
                descriptor.digest,
                path.display()
            ),
            &json!({"descriptor": descriptor, "path": path}),
        );
    }
    if ctx.printer.json() {
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::other(format!(
                "the config ({}) is not JSON, so --output json cannot print it: {e}; write it with -O FILE",
                descriptor.media_type
            ))
        })?;
        return ctx.printer.result("", &value);
    }
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, &bytes).and_then(|()| std::io::Write::flush(&mut out))
    {
        // A closed pipe (`… | head`) is not a failure of the command.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::other(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// The manifest's bytes (or, with `--descriptor`, its descriptor).
fn print_manifest(
    ctx: &Context,
    args: &ManifestFetchArgs,
    content: &ManifestContent,
) -> Result<(), Failure> {
    if args.descriptor {
        let text = serde_json::to_string_pretty(&content.descriptor)
            .map_err(|e| Failure::other(format!("printing the descriptor: {e}")))?;
        return ctx.printer.result(&text, &content.descriptor);
    }
    let value: Value = serde_json::from_slice(&content.bytes)
        .map_err(|e| Failure::other(format!("the manifest is not JSON: {e}")))?;
    let text = if args.pretty {
        indent_json(&String::from_utf8_lossy(&content.bytes))
    } else {
        // The bytes as received: their digest is the manifest's.
        String::from_utf8_lossy(&content.bytes).into_owned()
    };
    ctx.printer.result(&text, &value)
}

/// `orca manifest delete` and `orca delete`.
pub(crate) async fn delete(ctx: &Context, reference: &str) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[reference])?;
    let digest = store.delete(reference).await?;
    ctx.printer.result(
        &format!("Deleted {reference}\nDigest: {digest}"),
        &json!({"reference": reference, "digest": digest.to_string()}),
    )
}

/// `orca manifest delete`.
pub(crate) async fn manifest_delete(ctx: &Context, args: &ReferenceArg) -> Result<(), Failure> {
    delete(ctx, &args.reference).await
}

/// `orca delete`.
pub(crate) async fn delete_artifact(ctx: &Context, args: &DeleteArgs) -> Result<(), Failure> {
    delete(ctx, &args.reference).await
}

/// A referrer and the referrers found below it.
#[derive(Debug)]
struct Node {
    descriptor: Descriptor,
    children: Vec<Node>,
}

/// `orca discover`.
pub(crate) async fn discover(ctx: &Context, args: &DiscoverArgs) -> Result<(), Failure> {
    let store = terminal_store(ctx, &[&args.reference])?;
    let repository = repository_of(&args.reference)?;
    let subject = resolve_for(&store, &args.reference, args.platform.as_ref()).await?;
    let mut seen = vec![subject.digest.to_string()];
    let tree = walk(
        &store,
        &repository,
        subject.digest.to_string(),
        args.artifact_type.as_deref(),
        args.depth,
        &mut seen,
    )
    .await?;
    let value = json!({
        "reference": args.reference,
        "digest": subject.digest.to_string(),
        "mediaType": subject.media_type,
        "referrers": tree.iter().map(node_json).collect::<Vec<_>>(),
    });
    let text = match args.format {
        DiscoverFormat::Json => {
            serde_json::to_string_pretty(&value).map_err(|e| Failure::other(e.to_string()))?
        }
        DiscoverFormat::Table => {
            let mut text = format!("{:71}  {:>8}  ARTIFACT TYPE\n", "DIGEST", "SIZE");
            table(&tree, 0, &mut text);
            text
        }
        DiscoverFormat::Tree => {
            let mut text = format!("{repository}@{}\n", subject.digest);
            draw(&tree, "", &mut text);
            text
        }
    };
    ctx.printer.result(&text, &value)
}

/// The referrers of `digest` and theirs, `depth` levels down; a digest already seen is
/// not followed again.
fn walk<'a>(
    store: &'a ArtifactStore,
    repository: &'a str,
    digest: String,
    artifact_type: Option<&'a str>,
    depth: u8,
    seen: &'a mut Vec<String>,
) -> Pin<Box<dyn Future<Output = Result<Vec<Node>, Failure>> + Send + 'a>> {
    Box::pin(async move {
        let referrers = store
            .referrers(&format!("{repository}@{digest}"), artifact_type)
            .await?;
        let mut nodes = Vec::with_capacity(referrers.manifests.len());
        for descriptor in referrers.manifests {
            let d = descriptor.digest.to_string();
            let children = if depth > 1 && !seen.contains(&d) {
                seen.push(d.clone());
                walk(store, repository, d, None, depth - 1, seen).await?
            } else {
                Vec::new()
            };
            nodes.push(Node {
                descriptor,
                children,
            });
        }
        Ok(nodes)
    })
}

fn type_of(d: &Descriptor) -> String {
    types::describe(d.artifact_type.as_deref(), false)
}

fn draw(nodes: &[Node], indent: &str, out: &mut String) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let (branch, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let _ = writeln!(
            out,
            "{indent}{branch}{}  {}",
            node.descriptor.digest,
            type_of(&node.descriptor)
        );
        draw(&node.children, &format!("{indent}{next}"), out);
    }
}

fn table(nodes: &[Node], level: usize, out: &mut String) {
    for node in nodes {
        let digest = format!("{}{}", "  ".repeat(level), node.descriptor.digest);
        let _ = writeln!(
            out,
            "{digest:71}  {:>8}  {}",
            node.descriptor.size,
            type_of(&node.descriptor)
        );
        table(&node.children, level + 1, out);
    }
}

fn node_json(node: &Node) -> Value {
    let mut value = serde_json::to_value(&node.descriptor).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("typeName".into(), json!(type_of(&node.descriptor)));
        map.insert(
            "referrers".into(),
            Value::Array(node.children.iter().map(node_json).collect()),
        );
    }
    value
}

/// `registry/repository` of a reference argument.
pub(crate) fn repository_of(reference: &str) -> Result<String, Failure> {
    let parsed = Reference::parse(reference)
        .map_err(|e| Failure::usage(format!("invalid reference {reference:?}: {e}")))?;
    Ok(format!("{}/{}", parsed.registry(), parsed.repository()))
}

/// Indent JSON text by two spaces per level, keeping its keys in the order received
/// (`serde_json::Value` would sort them). The input must be valid JSON.
fn indent_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut level = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(char::is_ascii_whitespace) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    level += 1;
                    newline(&mut out, level);
                }
            }
            '}' | ']' => {
                level = level.saturating_sub(1);
                newline(&mut out, level);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, level);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indenting_keeps_the_order_and_the_strings() {
        let text = r#"{"schemaVersion":2,"a":{},"b":[],"c":["x, y: {z}", 1],"d":{"e":"\"q\""}}"#;
        let pretty = indent_json(text);
        assert_eq!(
            pretty,
            "{\n  \"schemaVersion\": 2,\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    \"x, y: {z}\",\n    1\n  ],\n  \"d\": {\n    \"e\": \"\\\"q\\\"\"\n  }\n}"
        );
        let back: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn digest_like_tags_are_told_apart() {
        let hex = "a".repeat(64);
        assert!(is_digest_tag(&format!("sha256-{hex}")));
        for tag in [
            "v1",
            "sha256",
            "sha256-abc",
            "release-2024",
            &format!("sha256-{}", "A".repeat(64)),
            &format!("sha256_{hex}"),
        ] {
            assert!(!is_digest_tag(tag), "{tag}");
        }
    }
}

//! `push`, `attach`, `pull`, `fetch` and `copy`: the commands that move artifacts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use orca::{
    ConfigStyle, CopyOptions, FetchOptions, Fetched, FileKind, FileSpec, PushOptions, Pushed,
};
use serde_json::{Value, json};

use crate::args::{
    AttachArgs, CopyArgs, FetchArgs, ImageSpec, ManifestPushArgs, PullArgs, PushArgs,
};
use crate::context::{Access, Context};
use crate::exit::Failure;

/// ORAS's default config media type, for `--config FILE` without one.
const UNKNOWN_CONFIG: &str = "application/vnd.unknown.config.v1+json";

/// The operation name `pull` fetches under (the store's default limit applies to a
/// registered store, none to others).
const PULL_OPERATION: &str = "pull";

/// `orca push`.
pub(crate) async fn push(ctx: &Context, args: &PushArgs) -> Result<(), Failure> {
    let (reference, extra_tags) = split_tags(&args.reference)?;
    let (options, files) = push_inputs(args, extra_tags)?;
    let pushed = push_and_export(ctx, args, &reference, &files, &options).await?;
    let text = format!(
        "{}Pushed {}\nArtifactType: {}\nDigest: {}",
        layer_lines(&pushed),
        display_reference(&reference),
        pushed.manifest.artifact_type.as_deref().unwrap_or("-"),
        pushed.digest
    );
    ctx.printer.result(&text, &pushed_json(&pushed))
}

/// `orca attach`: `push --subject`, by digest into the subject's repository.
pub(crate) async fn attach(ctx: &Context, args: &AttachArgs) -> Result<(), Failure> {
    if args.files.is_empty() && args.annotations.is_empty() && args.annotation_file.is_none() {
        return Err(Failure::usage(
            "attach needs something to attach: files, or annotations (-a KEY=VALUE, --annotation-file)",
        ));
    }
    let repository = crate::commands::inspect::repository_of(&args.subject)?;
    // Of an index with --platform, the subject is its entry for the platform.
    let subject = match &args.platform {
        Some(platform) => {
            let (store, _) = ctx.artifact_store(&[&args.subject], Access::Terminal, None, false)?;
            let entry =
                crate::commands::inspect::resolve_for(&store, &args.subject, Some(platform))
                    .await?;
            format!("{repository}@{}", entry.digest)
        }
        None => args.subject.clone(),
    };
    let push = PushArgs {
        reference: repository.clone(),
        files: args.files.clone(),
        artifact_type: Some(args.artifact_type.clone()),
        annotations: args.annotations.clone(),
        annotation_file: args.annotation_file.clone(),
        config: None,
        subject: Some(subject.clone()),
        export_manifest: args.export_manifest.clone(),
        concurrency: args.concurrency,
        overlap_from: None,
        image_spec: ImageSpec::V1_1,
        credentials: args.credentials.clone(),
    };
    let (options, files) = push_inputs(&push, Vec::new())?;
    let pushed = push_and_export(ctx, &push, &repository, &files, &options.untagged(true)).await?;
    let text = format!(
        "{}Attached to {}\nArtifactType: {}\nDigest: {}\nReferrer: {}",
        layer_lines(&pushed),
        display_reference(&subject),
        args.artifact_type,
        pushed.digest,
        pushed.reference
    );
    let mut value = pushed_json(&pushed);
    value["subject"] = json!(subject);
    ctx.printer.result(&text, &value)
}

/// Pushes `files` to `reference` as `args` say, writing the manifest to
/// `--export-manifest` when asked.
async fn push_and_export(
    ctx: &Context,
    args: &PushArgs,
    reference: &str,
    files: &[FileSpec],
    options: &PushOptions,
) -> Result<Pushed, Failure> {
    let mut names = vec![reference];
    if let Some(s) = &args.subject {
        names.push(s);
    }
    let (store, observer) =
        ctx.artifact_store(&names, Access::Terminal, Some(args.concurrency), false)?;
    let pushed = store
        .push_files(reference, files, options)
        .await
        .map_err(|e| {
            observer.clear();
            Failure::from(e)
        })?;
    if let Some(path) = &args.export_manifest {
        let manifest = store
            .fetch_manifest(&pushed.reference.to_string())
            .await
            .map_err(Failure::from)?;
        std::fs::write(path, &manifest.bytes)
            .map_err(|e| Failure::io("writing the manifest to", path, &e))?;
    }
    Ok(pushed)
}

/// `Uploaded`/`Exists` lines for the layers, as ORAS prints them.
fn layer_lines(pushed: &Pushed) -> String {
    let mut text = String::new();
    for layer in &pushed.layers {
        // As ORAS says it: a blob the registry already had was not uploaded.
        let verb = if pushed.existing.contains(&layer.digest) {
            "Exists    "
        } else {
            "Uploaded  "
        };
        let _ = writeln!(
            text,
            "{verb}{} {}",
            short(layer.digest.as_str()),
            layer.title().unwrap_or("")
        );
    }
    text
}

fn pushed_json(pushed: &Pushed) -> Value {
    json!({
        "reference": pushed.reference.to_string(),
        "mediaType": pushed.manifest.media_type,
        "digest": pushed.digest.to_string(),
        "size": pushed.manifest.size,
        "artifactType": pushed.manifest.artifact_type,
        "layers": pushed.layers,
        "uploadedBytes": pushed.uploaded_bytes,
        "skippedBlobs": pushed.skipped_blobs,
    })
}

/// The push options and files from the command line and the annotation file.
fn push_inputs(
    args: &PushArgs,
    extra_tags: Vec<String>,
) -> Result<(PushOptions, Vec<FileSpec>), Failure> {
    let file_annotations = match &args.annotation_file {
        Some(path) => read_annotation_file(path)?,
        None => BTreeMap::new(),
    };
    let mut options = PushOptions::default();
    if let Some(bytes) = args.overlap_from {
        options = options.overlap_from(bytes);
    }
    if args.image_spec == ImageSpec::V1_0 {
        options = options.config(ConfigStyle::ImageSpecV1_0);
    }
    if let Some(t) = &args.artifact_type {
        options = options.artifact_type(t);
    }
    for tag in extra_tags {
        options = options.extra_tag(tag);
    }
    let mut used_keys = Vec::new();
    if let Some(manifest) = file_annotations.get("$manifest") {
        used_keys.push("$manifest".to_owned());
        for (k, v) in manifest {
            options = options.annotation(k, v);
        }
    }
    for a in &args.annotations {
        let (k, v) = a
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Failure::usage(format!("--annotation {a:?}: expected KEY=VALUE")))?;
        options = options.annotation(k, v);
    }
    if let Some(subject) = &args.subject {
        options = options.subject(subject);
    }
    if let Some(config) = &args.config {
        let mut spec = FileSpec::parse(config).map_err(Failure::from)?;
        if spec.media_type.is_none() {
            spec = spec.with_media_type(UNKNOWN_CONFIG);
        }
        if let Some(a) = file_annotations.get("$config") {
            used_keys.push("$config".to_owned());
            for (k, v) in a {
                spec = spec.with_annotation(k, v);
            }
        }
        options = options.config(ConfigStyle::File(spec));
    }
    let mut files = Vec::with_capacity(args.files.len());
    for spec in &args.files {
        let mut file = FileSpec::parse(spec).map_err(Failure::from)?;
        let name = file.path().to_string_lossy().into_owned();
        let key = name
            .trim_end_matches(['/', std::path::MAIN_SEPARATOR])
            .to_owned();
        if let Some(a) = file_annotations
            .get(&key)
            .or_else(|| file_annotations.get(&name))
        {
            used_keys.push(key);
            for (k, v) in a {
                file = file.with_annotation(k, v);
            }
        }
        files.push(file);
    }
    if let Some(unused) = file_annotations.keys().find(|k| !used_keys.contains(k)) {
        return Err(Failure::usage(format!(
            "--annotation-file: {unused:?} is neither $manifest, $config (with --config) nor a file being pushed"
        )));
    }
    Ok((options, files))
}

/// `orca pull`.
pub(crate) async fn pull(ctx: &Context, args: &PullArgs) -> Result<(), Failure> {
    let (store, observer) = ctx.artifact_store(
        &[&args.reference],
        Access::Terminal,
        Some(args.concurrency),
        true,
    )?;
    let mut options = FetchOptions::default()
        .unpack_all(args.unpack_all)
        .merge_into_dest(true);
    options.platform.clone_from(&args.platform);
    let mut pulled = Vec::new();
    let fetched = store
        .fetch_with(&args.reference, PULL_OPERATION, &args.output_dir, &options)
        .await
        .map_err(|e| {
            observer.clear();
            Failure::from(e)
        })?;
    if args.include_subject {
        let manifest = store
            .fetch_manifest(&fetched.reference.to_string())
            .await
            .map_err(Failure::from)?;
        if let Some(subject) = manifest.manifest.subject() {
            let subject_ref = format!(
                "{}/{}@{}",
                fetched.reference.registry(),
                fetched.reference.repository(),
                subject.digest
            );
            pulled.push(fetched);
            let fetched = store
                .fetch_with(&subject_ref, PULL_OPERATION, &args.output_dir, &options)
                .await
                .map_err(|e| {
                    observer.clear();
                    Failure::from(e)
                })?;
            pulled.push(fetched);
        } else {
            pulled.push(fetched);
        }
    } else {
        pulled.push(fetched);
    }
    let mut text = String::new();
    for f in &pulled {
        text.push_str(&fetched_text("Pulled", f));
    }
    let value = if pulled.len() == 1 {
        fetched_json(&pulled[0])
    } else {
        Value::Array(pulled.iter().map(fetched_json).collect())
    };
    ctx.printer.result(&text, &value)
}

/// `orca fetch`: the service path.
pub(crate) async fn fetch(ctx: &Context, args: &FetchArgs) -> Result<(), Failure> {
    let (store, observer) = ctx.artifact_store(&[&args.reference], Access::Service, None, true)?;
    let mut options = FetchOptions::default();
    options.platform.clone_from(&args.platform);
    let fetched = store
        .fetch_with(&args.reference, &args.operation, &args.output_dir, &options)
        .await
        .map_err(|e| {
            observer.clear();
            Failure::from(e)
        })?;
    ctx.printer
        .result(&fetched_text("Fetched", &fetched), &fetched_json(&fetched))
}

/// `orca copy`.
pub(crate) async fn copy(ctx: &Context, args: &CopyArgs) -> Result<(), Failure> {
    let (store, observer) = ctx.artifact_store(
        &[&args.source, &args.destination],
        Access::Terminal,
        Some(args.concurrency),
        true,
    )?;
    let mut options = CopyOptions::default().referrers(args.recursive);
    options.platform.clone_from(&args.platform);
    let copied = store
        .copy(&args.source, &args.destination, &options)
        .await
        .map_err(|e| {
            observer.clear();
            Failure::from(e)
        })?;
    let digest = copied.digest.as_ref().map(ToString::to_string);
    let platform = match (&copied.platform, &copied.index) {
        (Some(platform), Some(index)) => {
            format!("\nPlatform: {platform} (from index {})", index.digest)
        }
        (Some(platform), None) => format!("\nPlatform: {platform}"),
        _ => String::new(),
    };
    let text = format!(
        "Copied {} => {}\nDigest: {}{platform}\nManifests: {}, blobs copied: {}, mounted: {}, skipped: {}, referrers: {}",
        display_reference(&args.source),
        display_reference(&args.destination),
        digest.as_deref().unwrap_or("-"),
        copied.manifests,
        copied.blobs_copied,
        copied.blobs_mounted,
        copied.blobs_skipped,
        copied.referrers,
    );
    ctx.printer.result(
        &text,
        &json!({
            "source": args.source,
            "destination": args.destination,
            "digest": digest,
            "manifests": copied.manifests,
            "blobsCopied": copied.blobs_copied,
            "blobsMounted": copied.blobs_mounted,
            "blobsSkipped": copied.blobs_skipped,
            "bytes": copied.bytes,
            "referrers": copied.referrers,
            "platform": copied.platform.as_ref().map(ToString::to_string),
            "index": copied.index.as_ref().map(|index| index.digest.to_string()),
        }),
    )
}

fn fetched_text(verb: &str, f: &Fetched) -> String {
    let mut text = String::new();
    for file in &f.files {
        if file.kind == FileKind::File {
            let _ = writeln!(text, "Downloaded {}", file.path.display());
        }
    }
    let _ = writeln!(
        text,
        "{verb} {}\nArtifactType: {}\nDigest: {}",
        f.reference,
        f.artifact_type.as_deref().unwrap_or("-"),
        f.digest
    );
    match (&f.index, &f.manifest.platform) {
        (Some(index), Some(platform)) => {
            let _ = writeln!(text, "Platform: {platform} (from index {})", index.digest);
        }
        (None, Some(platform)) => {
            let _ = writeln!(text, "Platform: {platform}");
        }
        _ => {}
    }
    text
}

fn fetched_json(f: &Fetched) -> Value {
    let files: Vec<Value> = f
        .files
        .iter()
        .map(|file| {
            json!({
                "path": file.path,
                "kind": match file.kind {
                    FileKind::File => "file",
                    FileKind::Directory => "directory",
                    FileKind::Symlink => "symlink",
                    FileKind::Hardlink => "hardlink",
                    _ => "other",
                },
                "size": file.size,
                "layer": file.layer.to_string(),
            })
        })
        .collect();
    json!({
        "reference": f.reference.to_string(),
        "digest": f.digest.to_string(),
        "mediaType": f.manifest.media_type,
        "artifactType": f.artifact_type,
        "annotations": f.annotations,
        "files": files,
        "artifactBytes": f.artifact_bytes,
        "writtenBytes": f.written_bytes,
        "downloadedBytes": f.downloaded_bytes,
        "cachedBytes": f.cached_bytes,
        "manifestFromCache": f.manifest_from_cache,
        "platform": f.manifest.platform.as_ref().map(ToString::to_string),
        "index": f.index.as_ref().map(|index| index.digest.to_string()),
    })
}

/// The most bytes `manifest push` reads: the size registries accept for a manifest.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// `orca manifest push`.
pub(crate) async fn manifest_push(ctx: &Context, args: &ManifestPushArgs) -> Result<(), Failure> {
    let (reference, extra_tags) = split_tags(&args.reference)?;
    let bytes = read_manifest(&args.file)?;
    let store = ctx
        .artifact_store(&[&reference], Access::Terminal, None, false)?
        .0;
    let descriptor = store
        .push_manifest(&reference, bytes, args.media_type.as_deref())
        .await?;
    if !extra_tags.is_empty() {
        let pinned = format!(
            "{}@{}",
            reference
                .split_once('@')
                .map_or_else(|| strip_tag(&reference), |(name, _)| name),
            descriptor.digest
        );
        let tags: Vec<&str> = extra_tags.iter().map(String::as_str).collect();
        store.tag(&pinned, &tags).await?;
    }
    let mut text = format!(
        "Pushed {}\nDigest: {}\nMediaType: {}",
        display_reference(&args.reference),
        descriptor.digest,
        descriptor.media_type
    );
    if let Some(artifact_type) = &descriptor.artifact_type {
        let _ = write!(text, "\nArtifactType: {artifact_type}");
    }
    ctx.printer.result(
        &text,
        &json!({
            "reference": reference,
            "tags": extra_tags,
            "digest": descriptor.digest.to_string(),
            "mediaType": descriptor.media_type,
            "size": descriptor.size,
            "artifactType": descriptor.artifact_type,
        }),
    )
}

/// `name:tag` without `:tag` (the name's registry port kept).
fn strip_tag(reference: &str) -> &str {
    let name_end = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_end..].find(':') {
        Some(colon) => &reference[..name_end + colon],
        None => reference,
    }
}

/// The manifest file (or stdin for `-`), at most [`MAX_MANIFEST_BYTES`].
fn read_manifest(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
    };
    let shown = if path == Path::new("-") {
        Path::new("stdin")
    } else {
        path
    };
    read.map_err(|e| Failure::io("reading the manifest", shown, &e))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Failure::other(format!(
            "{}: more than the {} MiB a manifest may have",
            shown.display(),
            MAX_MANIFEST_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// ORAS's `REF:TAG1,TAG2`: the reference with its first tag, and the other tags.
fn split_tags(reference: &str) -> Result<(String, Vec<String>), Failure> {
    if reference.contains('@') {
        return Ok((reference.to_owned(), Vec::new()));
    }
    let name_end = reference.rfind('/').map_or(0, |i| i + 1);
    let Some(colon) = reference[name_end..].find(':').map(|i| i + name_end) else {
        return Ok((reference.to_owned(), Vec::new()));
    };
    let mut tags = reference[colon + 1..].split(',');
    let first = tags.next().unwrap_or_default();
    let rest: Vec<String> = tags.map(str::to_owned).collect();
    if first.is_empty() || rest.iter().any(String::is_empty) {
        return Err(Failure::usage(format!("{reference:?}: empty tag")));
    }
    Ok((format!("{}:{first}", &reference[..colon]), rest))
}

/// ORAS's annotation file: `{"$manifest": {...}, "$config": {...}, "FILE": {...}}`.
fn read_annotation_file(
    path: &Path,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::io("reading the annotation file", path, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::usage(format!(
            "{}: not an ORAS annotation file ({{\"$manifest\": {{\"key\": \"value\"}}, \"FILE\": {{...}}}}): {e}",
            path.display()
        ))
    })
}

/// `sha256:0123456789ab`: enough of a digest to tell layers apart.
fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    digest.get(..end).unwrap_or(digest)
}

/// A reference as given, for messages.
fn display_reference(reference: &str) -> &str {
    reference
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_oras() {
        let (r, t) = split_tags("localhost:5000/a/b:v1,v2,latest").unwrap();
        assert_eq!(r, "localhost:5000/a/b:v1");
        assert_eq!(t, ["v2", "latest"]);
        let (r, t) = split_tags("localhost:5000/a/b").unwrap();
        assert_eq!(r, "localhost:5000/a/b");
        assert!(t.is_empty());
        let (r, t) = split_tags("localhost:5000/a@sha256:00").unwrap();
        assert_eq!(r, "localhost:5000/a@sha256:00");
        assert!(t.is_empty());
        assert!(split_tags("localhost:5000/a:v1,").is_err());
    }

    #[test]
    fn short_digests() {
        assert_eq!(
            short(&format!("sha256:{}", "a".repeat(64))),
            "sha256:aaaaaaaaaaaa"
        );
        assert_eq!(short("x"), "x");
    }
}

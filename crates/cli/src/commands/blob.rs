//! `blob fetch`, `blob push` and `blob delete`.

use std::path::Path;

use serde_json::json;

use crate::args::{BlobFetchArgs, BlobPushArgs, ReferenceArg};
use crate::context::{Access, Context};
use crate::exit::Failure;

/// `orca blob fetch`: to a file (through a temporary file renamed on success, so a failed
/// or corrupt download leaves nothing and the file there stays), to stdout with `-O -`, or just the descriptor.
pub(crate) async fn fetch(ctx: &Context, args: &BlobFetchArgs) -> Result<(), Failure> {
    let (store, observer) =
        ctx.artifact_store(&[&args.reference], Access::Terminal, None, false)?;
    let Some(output) = &args.output_file else {
        let descriptor = store.blob_descriptor(&args.reference).await?;
        let text = serde_json::to_string_pretty(&descriptor)
            .map_err(|e| Failure::other(format!("printing the descriptor: {e}")))?;
        return ctx.printer.result(&text, &descriptor);
    };
    if output == Path::new("-") {
        let mut stdout = tokio::io::stdout();
        store
            .fetch_blob_to(&args.reference, &mut stdout)
            .await
            .inspect_err(|_| observer.clear())?;
        return Ok(());
    }
    let descriptor = store
        .fetch_blob_to_file(&args.reference, output)
        .await
        .inspect_err(|_| observer.clear())?;
    ctx.printer.result(
        &format!("Downloaded {} to {}", descriptor.digest, output.display()),
        &json!({"descriptor": descriptor, "path": output}),
    )
}

/// `orca blob push`: a file, or stdin spooled to a temporary file (so the digest can be
/// known before the upload, and a failed upload leaves nothing).
pub(crate) async fn push(ctx: &Context, args: &BlobPushArgs) -> Result<(), Failure> {
    let (store, observer) =
        ctx.artifact_store(&[&args.reference], Access::Terminal, None, false)?;
    let spooled;
    let path = if args.file == Path::new("-") {
        spooled = tokio::task::spawn_blocking(spool_stdin)
            .await
            .map_err(|e| Failure::other(format!("reading stdin: {e}")))??;
        spooled.path()
    } else {
        args.file.as_path()
    };
    let (mut descriptor, existed) = store
        .push_blob_file(&args.reference, path)
        .await
        .inspect_err(|_| observer.clear())?;
    descriptor.media_type.clone_from(&args.media_type);
    if args.descriptor {
        let text = serde_json::to_string_pretty(&descriptor)
            .map_err(|e| Failure::other(format!("printing the descriptor: {e}")))?;
        return ctx.printer.result(&text, &descriptor);
    }
    let verb = if existed { "Exists" } else { "Pushed" };
    ctx.printer.result(
        &format!(
            "{verb} {}\nDigest: {}\nSize: {}",
            args.reference, descriptor.digest, descriptor.size
        ),
        &json!({"reference": args.reference, "descriptor": descriptor, "existed": existed}),
    )
}

/// Standard input copied to a temporary file (removed when dropped).
fn spool_stdin() -> Result<tempfile::NamedTempFile, Failure> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| Failure::other(format!("creating a temporary file for stdin: {e}")))?;
    std::io::copy(&mut std::io::stdin().lock(), file.as_file_mut())
        .map_err(|e| Failure::other(format!("reading stdin: {e}")))?;
    Ok(file)
}

/// `orca blob delete`.
pub(crate) async fn delete(ctx: &Context, args: &ReferenceArg) -> Result<(), Failure> {
    let (store, _) = ctx.artifact_store(&[&args.reference], Access::Terminal, None, false)?;
    let digest = store.delete_blob(&args.reference).await?;
    ctx.printer.result(
        &format!("Deleted {}", args.reference),
        &json!({"reference": args.reference, "digest": digest.to_string()}),
    )
}

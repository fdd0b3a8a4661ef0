//! `blob fetch` and `blob delete`.

use std::path::Path;

use serde_json::json;

use crate::args::{BlobFetchArgs, ReferenceArg};
use crate::context::{Access, Context};
use crate::exit::Failure;

/// `orca blob fetch`: to a file (through a temporary file renamed on success, so a failed
/// or corrupt download leaves nothing), to stdout with `-O -`, or just the descriptor.
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
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".orca-blob-")
        .tempfile_in(&dir)
        .map_err(|e| Failure::io("creating a temporary file in", &dir, &e))?;
    let (file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let descriptor = store
        .fetch_blob_to(&args.reference, &mut file)
        .await
        .inspect_err(|_| observer.clear())?;
    drop(file);
    temp_path
        .persist(output)
        .map_err(|e| Failure::io("writing", output, &e.error))?;
    ctx.printer.result(
        &format!("Downloaded {} to {}", descriptor.digest, output.display()),
        &json!({"descriptor": descriptor, "path": output}),
    )
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

//! `blob fetch` and `blob delete`.

use std::path::Path;

use serde_json::json;

use crate::args::{BlobFetchArgs, ReferenceArg};
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

/// `orca blob delete`.
pub(crate) async fn delete(ctx: &Context, args: &ReferenceArg) -> Result<(), Failure> {
    let (store, _) = ctx.artifact_store(&[&args.reference], Access::Terminal, None, false)?;
    let digest = store.delete_blob(&args.reference).await?;
    ctx.printer.result(
        &format!("Deleted {}", args.reference),
        &json!({"reference": args.reference, "digest": digest.to_string()}),
    )
}

//! Async OCI distribution-spec client over hyper and rustls, with streamed, verified transfers.

//! The `orca` binary: see `orca --help` and the crate README.

/// jemalloc keeps freed pages for reuse where glibc's malloc gives a download's receive
/// buffers back to the kernel and faults fresh ones in for the next (see Cargo.toml).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    orca_cli::main()
}

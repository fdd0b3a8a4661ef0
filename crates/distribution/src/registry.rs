//! The registry key every per-registry setting is looked up by: `orca_reference::Registry`,
//! re-exported so that configuring a client needs no second import.

pub use orca_reference::Registry;

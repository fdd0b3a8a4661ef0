//! Scenario suite proving orca's client against the mock registry and real registries.

//! Registered artifact stores, a local OCI-layout content cache, and pull-through cache rules.

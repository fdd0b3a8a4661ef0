//! A spec-faithful in-process OCI registry with auth modes and a fault plan.

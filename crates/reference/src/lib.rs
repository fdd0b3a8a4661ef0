//! Image references: parse, validate, normalise and format `registry/repository:tag@digest`.

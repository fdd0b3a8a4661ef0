//! The project task runner (filled in next).
fn main() {}

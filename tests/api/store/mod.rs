//! The storage conformance suite (every test on SQLite and PostgreSQL).

pub mod conformance;

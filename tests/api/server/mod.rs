//! The server as a whole: health, pages, faults, layering rules, property-based
//! targets.

pub mod faults;
pub mod health;
pub mod layering;
pub mod pages;
pub mod properties;

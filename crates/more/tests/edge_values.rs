//! Edge values with the library default (no flush-to-zero); see `edge/cases.rs`.
mod common;
const FTZ: bool = false;
include!("edge/cases.rs");

//! Tools that are neither owner nor server work: inspecting files, benchmarks, attacks.

pub mod attack;
pub mod bench;
pub mod inspect;

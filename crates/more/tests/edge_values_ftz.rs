//! Edge values with flush-to-zero and denormals-are-zero on every compute thread, as the CLI
//! runs (`moreml --no-flush-to-zero` turns it off); see `edge/cases.rs`.
mod common;
const FTZ: bool = true;
include!("edge/cases.rs");

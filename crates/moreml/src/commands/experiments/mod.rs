//! The paper's experiments and the simulators that feed them. Each experiment plays both
//! roles in one process (owner encrypts and decrypts, the learner sees ciphertexts only).

pub mod angio;
pub mod mnist;
pub mod security_report;
pub mod wbc;

//! The parity harness: the example plugins in every form, and the harness
//! itself proving it notices when forms differ.

mod examples;
mod harness;
mod migration;
mod subjects;

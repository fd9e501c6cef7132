//! Integration tests of `wasp-node`: native plugins out of the host's
//! process. They live in this crate because only its tests know where cargo
//! built the `wasp-node` binary (`CARGO_BIN_EXE_wasp-node`).

mod out_of_process;

//! `sysinfo.os`: the native component of the hybrid plugin `sysinfo`.
//!
//! It does what WASM cannot: it asks the operating system. Built as a
//! `cdylib` for the host; it answers at `sysinfo.os`.
//!
//! - request `facts`: a [`Facts`] about this machine and process.

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;

/// What the operating system says. The WASM component has its own copy of
/// this type: the MessagePack shape is the contract between the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// `linux`, `windows`, `macos`, …
    pub os: String,
    /// `x86_64`, `aarch64`, …
    pub arch: String,
    /// Logical processors available to this process.
    pub cpus: u32,
    /// The host process's id.
    pub pid: u32,
    /// The machine's name, when the system tells it.
    pub hostname: Option<String>,
}

/// The machine's name: `/proc/sys/kernel/hostname` on Linux, `COMPUTERNAME`
/// on Windows, `HOSTNAME` elsewhere.
fn hostname() -> Option<String> {
    let name = if cfg!(target_os = "linux") {
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok()
    } else if cfg!(windows) {
        std::env::var("COMPUTERNAME").ok()
    } else {
        std::env::var("HOSTNAME").ok()
    };
    name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

/// Reads the facts.
pub fn facts() -> Facts {
    Facts {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        pid: std::process::id(),
        hostname: hostname(),
    }
}

/// The OS component.
#[derive(Default)]
pub struct Os;

impl Plugin for Os {
    fn on_message(&mut self, _ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "facts" => Reply::encode(&facts()),
            topic => Err(WireError::new(ErrorCode::NotFound, format!("sysinfo.os has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Os);

//! `sysinfo`: the WASM component of the hybrid plugin `sysinfo` — the
//! logic, sandboxed and portable.
//!
//! It cannot read the machine itself; it asks its native sibling
//! `sysinfo.os`, which a hybrid plugin may do without any `request:`
//! permission (the two are one plugin).
//!
//! - request `report`: asks `sysinfo.os` for its facts (once; they are
//!   kept), answers a [`Report`] and publishes it on `sysinfo.report`;
//! - request `workers`: how many worker threads this machine should run
//!   (one per processor, less one for the UI, at least one).

use serde::{Deserialize, Serialize};
use wasp_sdk::prelude::*;

/// The facts `sysinfo.os` answers (its own type has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// `linux`, `windows`, `macos`, …
    pub os: String,
    /// `x86_64`, `aarch64`, …
    pub arch: String,
    /// Logical processors available to the host.
    pub cpus: u32,
    /// The host process's id.
    pub pid: u32,
    /// The machine's name, when the system tells it.
    pub hostname: Option<String>,
}

/// What `report` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One line for people.
    pub summary: String,
    /// The worker threads to run.
    pub workers: u32,
    /// The facts it is based on.
    pub facts: Facts,
}

/// The logic component.
#[derive(Default)]
pub struct Logic {
    facts: Option<Facts>,
}

/// One worker per processor, less one for the UI, at least one.
pub fn workers(cpus: u32) -> u32 {
    cpus.saturating_sub(1).max(1)
}

impl Logic {
    fn facts(&mut self, ctx: &mut Context<'_>) -> Result<Facts, WireError> {
        if let Some(facts) = &self.facts {
            return Ok(facts.clone());
        }
        let facts: Facts = ctx.request("sysinfo.os", "facts", &())?;
        self.facts = Some(facts.clone());
        Ok(facts)
    }
}

impl Plugin for Logic {
    fn on_message(&mut self, ctx: &mut Context<'_>, msg: Message<'_>) -> Result<Reply, WireError> {
        match msg.topic {
            "report" => {
                let facts = self.facts(ctx)?;
                let workers = workers(facts.cpus);
                let host = facts.hostname.as_deref().unwrap_or("this machine");
                let summary = format!(
                    "{host}: {} on {} with {} processor(s); run {workers} worker(s)",
                    facts.os, facts.arch, facts.cpus
                );
                let report = Report { summary, workers, facts };
                ctx.publish("sysinfo.report", &report)?;
                Reply::encode(&report)
            }
            "workers" => Reply::encode(&workers(self.facts(ctx)?.cpus)),
            topic => Err(WireError::new(ErrorCode::NotFound, format!("sysinfo has no topic `{topic}`"))),
        }
    }
}

export_plugin!(Logic);

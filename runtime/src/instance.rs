//! One plugin instance behind one type, whatever its backend.

use std::sync::Arc;

use crate::inprocess::{InProcessInstance, PluginFactory};
use crate::loader::WasmPlugin;
use crate::router::{Inbound, Router};
use crate::wasm::WasmInstance;
use crate::{Engine, Error, Limits};

/// What a plugin is made from: compiled WASM, or an in-process factory.
#[derive(Clone)]
pub enum PluginImage {
    /// A validated, compiled WebAssembly module.
    Wasm(WasmPlugin),
    /// A Rust type registered in process.
    InProcess(PluginFactory),
}

impl std::fmt::Debug for PluginImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wasm(p) => p.fmt(f),
            Self::InProcess(_) => f.write_str("InProcess"),
        }
    }
}

impl PluginImage {
    /// `"wasm"` or `"in-process"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Wasm(_) => "wasm",
            Self::InProcess(_) => "in-process",
        }
    }

    /// Starts an instance named `name` that routes through `router`.
    pub async fn instantiate(
        &self,
        engine: &Engine,
        name: Arc<str>,
        router: Arc<dyn Router>,
        limits: Limits,
    ) -> Result<Instance, Error> {
        Ok(match self {
            Self::Wasm(plugin) => {
                Instance::Wasm(Box::new(WasmInstance::new(engine, plugin.clone(), router, limits).await?))
            }
            Self::InProcess(factory) => {
                Instance::InProcess(InProcessInstance::new(name, factory.clone(), router, limits)?)
            }
        })
    }
}

/// A running plugin instance.
#[derive(Debug)]
pub enum Instance {
    /// Running in wasmtime.
    Wasm(Box<WasmInstance>),
    /// Running in process.
    InProcess(InProcessInstance),
}

impl Instance {
    /// Handles one message. `Err` means the instance faulted (the message was
    /// answered with the fault) and must be [recycled](Instance::recycle).
    pub async fn handle(&mut self, msg: Inbound) -> Result<(), Error> {
        match self {
            Self::Wasm(w) => w.handle(msg).await,
            Self::InProcess(p) => p.handle(msg),
        }
    }

    /// Replaces the instance with a fresh one of the same plugin.
    pub async fn recycle(&mut self) -> Result<(), Error> {
        match self {
            Self::Wasm(w) => w.recycle().await,
            Self::InProcess(p) => p.recycle(),
        }
    }

    /// Linear memory in use, in bytes (0 for in-process plugins).
    pub fn memory_size(&self) -> usize {
        match self {
            Self::Wasm(w) => w.memory_size(),
            Self::InProcess(_) => 0,
        }
    }
}

//! Plugins that run outside this process: the seam a host-side backend (the
//! `wasp-node` child processes of `wasp-actors`) plugs into, so the runtime
//! stays free of processes and networking.

use std::future::Future;
use std::pin::Pin;

use wasp_protocol::ApiVersion;

use crate::lifecycle::Unloaded;
use crate::router::Inbound;
use crate::{Error, PluginEnv};

/// A boxed, sendable future borrowing its receiver.
pub type RemoteFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an out-of-process plugin is made from: it knows how to start an
/// instance somewhere else. See [`PluginImage::Remote`](crate::PluginImage::Remote).
pub trait RemoteImage: Send + Sync + std::fmt::Debug + 'static {
    /// The kind of code it runs ([`PluginKind::Native`](crate::PluginKind::Native)).
    fn kind(&self) -> crate::PluginKind;
    /// The ABI version the code was built for, once an instance has
    /// started and reported it (`None` before).
    fn abi_version(&self) -> Option<ApiVersion>;
    /// Starts an instance in `env`, handing it `restored` state (a hot reload).
    fn instantiate(
        &self,
        env: PluginEnv,
        restored: Option<Vec<u8>>,
    ) -> RemoteFuture<'_, Result<Box<dyn RemoteInstance>, Error>>;
}

/// A running out-of-process instance: the operations of
/// [`Instance`](crate::Instance), with the same contracts.
pub trait RemoteInstance: Send + std::fmt::Debug + 'static {
    /// [`Instance::handle`](crate::Instance::handle).
    fn handle(&mut self, msg: Inbound) -> RemoteFuture<'_, Result<(), Error>>;
    /// [`Instance::unload`](crate::Instance::unload).
    fn unload(&mut self) -> RemoteFuture<'_, Result<Unloaded, Error>>;
    /// [`Instance::recycle`](crate::Instance::recycle).
    fn recycle(&mut self) -> RemoteFuture<'_, Result<(), Error>>;
    /// [`Instance::quarantined`](crate::Instance::quarantined).
    fn quarantined(&self) -> bool;
    /// [`Instance::abandon`](crate::Instance::abandon).
    fn abandon(&mut self);
    /// What the instance was made from.
    fn image(&self) -> std::sync::Arc<dyn RemoteImage>;
    /// Asks to be told, with how it ended, when the instance ends by itself
    /// (its process crashed or was killed) while the host is not waiting on
    /// it: the owner then restarts it as after a fault. Kept across
    /// [`RemoteInstance::recycle`].
    fn on_exit(&mut self, notify: std::sync::Arc<dyn Fn(String) + Send + Sync>);
    /// How the current instance ended, if it has ended by itself.
    fn exited(&self) -> Option<String>;
}

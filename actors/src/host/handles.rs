//! What the host hands back: [`PluginRef`] for a loaded plugin, [`Prepared`]
//! for code compiled once, [`Subscription`] for events.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;
use wasp_protocol::{ApiVersion, Permission};
use wasp_runtime::manifest::ManifestKind;
use wasp_runtime::{Identity, PluginImage, PluginKind};

use crate::broker::Broker;
use crate::topics::{Event, EventBudget};

/// A loaded plugin's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub(super) name: String,
    pub(super) kind: wasp_runtime::PluginKind,
    pub(super) abi: Option<ApiVersion>,
    pub(super) granted: Vec<Permission>,
    pub(super) refused: Vec<Permission>,
    pub(super) components: Vec<String>,
    pub(super) identity: Identity,
}

/// A plugin validated and compiled once by [`Host::prepare`](crate::Host::prepare), ready to
/// start any number of times with [`Load::prepared`](crate::Load::prepared). Cheap to clone:
/// the compiled code is shared.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(super) kind: ManifestKind,
    pub(super) image: PluginImage,
    /// The identity of its code (unsigned: bytes carry no signature).
    pub(super) code: Identity,
}

impl Prepared {
    /// The form of code it runs.
    pub fn kind(&self) -> PluginKind {
        self.image.kind()
    }

    /// The ABI version the plugin was built for.
    pub fn abi_version(&self) -> Option<ApiVersion> {
        self.image.abi_version()
    }
}

impl PluginRef {
    /// The address to send to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The form of code it runs.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    /// For WASM and native plugins, the ABI version they were built for.
    pub fn abi_version(&self) -> Option<ApiVersion> {
        self.abi
    }

    /// The requested permissions it was granted at load.
    pub fn granted(&self) -> &[Permission] {
        &self.granted
    }

    /// The requested permissions it was refused at load.
    pub fn refused(&self) -> &[Permission] {
        &self.refused
    }

    /// For a hybrid plugin, the addresses of its components other than the
    /// first (which answers at [`name`](Self::name)): `<name>.<component>`.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Who the plugin is: the hash of its code, and the trusted publisher
    /// key that signed its bundle, if one did. Its remembered permission
    /// decisions belong to this identity (`docs/security.md`, "Identity").
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// Events on a topic pattern, for the host. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(super) id: u64,
    pub(super) rx: mpsc::Receiver<Event>,
    /// The bytes waiting in it, given back as events are taken.
    pub(super) budget: Arc<EventBudget>,
    pub(super) broker: Weak<Broker>,
}

impl Subscription {
    /// The next event; `None` once the host is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        let event = self.rx.recv().await?;
        self.budget.give(event.payload.len());
        Some(event)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        let event = self.rx.try_recv().ok()?;
        self.budget.give(event.payload.len());
        Some(event)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.remove_host_subscriptions(&[self.id]);
        }
    }
}

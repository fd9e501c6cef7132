//! The rules of the host API, written once: what a message must look like
//! (its address, topic and size), which permission each call needs (the
//! components of a hybrid plugin reach each other without one), what a
//! plugin's UI panel may do on its behalf, and what still reaches a
//! subscriber when an event is delivered.
//!
//! `HostCalls` (the per-plugin state every backend calls) applies them to a
//! plugin's own calls (and adds the audit, the rate limit and the
//! quarantine); the host applies the same functions to what it and the panels send, the node gateway to what a
//! node forwards, and the broker when it delivers an event. Nothing else
//! decides these questions.

use wasp_protocol::{Address, ErrorCode, Permission, WireError, validate_topic};

use crate::family::Family;
use crate::grants::{GrantSet, Grants};

/// A set of permissions the rules ask questions of: a plugin's live
/// [`Grants`] or a [`GrantSet`] snapshot of them.
pub trait Allows {
    /// Whether the permissions cover `kind` on `target` (see
    /// [`GrantSet::allows_parts`]).
    fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool;
}

impl Allows for GrantSet {
    fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool {
        GrantSet::allows_parts(self, kind, target)
    }
}

impl Allows for Grants {
    fn allows_parts(&self, kind: &str, target: Option<&str>) -> bool {
        Grants::allows_parts(self, kind, target)
    }
}

/// Checks an address (`host`, or a plugin's name) before anything is looked
/// up or checked against the grants with it.
///
/// # Errors
///
/// `invalid_argument`, "bad address: …", for anything else.
///
/// ```
/// use wasp_runtime::rules::check_address;
/// assert!(check_address("echo").is_ok());
/// assert!(check_address("../etc").is_err());
/// ```
pub fn check_address(to: &str) -> Result<(), WireError> {
    Address::parse(to).map(drop).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad address: {e}")))
}

/// Checks a topic a message is sent or published on.
///
/// # Errors
///
/// `invalid_argument`, "bad topic: …", for an empty, overlong or
/// control-character topic.
pub fn check_topic(topic: &str) -> Result<(), WireError> {
    validate_topic(topic).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad topic: {e}")))
}

/// Checks a subscription pattern (a topic, or a prefix ending in `*`).
///
/// # Errors
///
/// `invalid_argument`, "bad pattern: …", as [`check_topic`].
pub fn check_pattern(pattern: &str) -> Result<(), WireError> {
    validate_topic(pattern).map_err(|e| WireError::new(ErrorCode::InvalidArgument, format!("bad pattern: {e}")))
}

/// Checks a payload against the largest message the sender may send.
///
/// # Errors
///
/// `too_large`, naming both sizes.
///
/// ```
/// use wasp_runtime::rules::check_size;
/// assert!(check_size(&[0; 16], 16).is_ok());
/// assert_eq!(check_size(&[0; 17], 16).unwrap_err().code, wasp_protocol::ErrorCode::TooLarge);
/// ```
pub fn check_size(payload: &[u8], limit: usize) -> Result<(), WireError> {
    if payload.len() > limit {
        return Err(WireError::new(
            ErrorCode::TooLarge,
            format!("payload of {} bytes exceeds the limit of {limit} bytes", payload.len()),
        ));
    }
    Ok(())
}

/// What a request from a plugin to `to` on `topic` asks for: one of the
/// app's functions when `to` is `host` ([`Call::App`]), a plugin otherwise.
///
/// ```
/// use wasp_runtime::rules::{Call, request};
/// assert_eq!(request("host", "files.pick"), Call::App("files.pick"));
/// assert_eq!(request("echo", "ping"), Call::Request("echo"));
/// ```
pub fn request<'a>(to: &'a str, topic: &'a str) -> Call<'a> {
    if to == wasp_protocol::HOST { Call::App(topic) } else { Call::Request(to) }
}

/// What a plugin asks the broker for, as far as its permission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call<'a> {
    /// A one-way message to an address.
    Send(&'a str),
    /// A request to an address (waited or not).
    Request(&'a str),
    /// A request to one of the app's functions (to `host`, on a topic that
    /// names the function): `call:<function>`.
    App(&'a str),
    /// A publish on a topic.
    Publish(&'a str),
    /// A subscription to a pattern.
    Subscribe(&'a str),
    /// The end of a subscription: needs nothing.
    Unsubscribe,
    /// Setting or cancelling a timer.
    Timers,
    /// A `kv.*` call.
    Storage,
}

/// The permission (kind and target) `from` needs for `call`, or `None` when
/// it needs none: ending a subscription, and messaging another component of
/// its own hybrid plugin (`family`). A plugin messaging itself needs the
/// permission like any other address.
///
/// ```
/// use wasp_runtime::rules::{Call, needed};
/// assert_eq!(needed("a", None, Call::Send("b")), Some(("send", Some("b"))));
/// assert_eq!(needed("a", None, Call::Unsubscribe), None);
/// ```
pub fn needed<'a>(from: &str, family: Option<&Family>, call: Call<'a>) -> Option<(&'static str, Option<&'a str>)> {
    let sibling = |to: &str| family.is_some_and(|f| f.is_sibling(from, to));
    match call {
        Call::Send(to) | Call::Request(to) if sibling(to) => None,
        Call::Send(to) => Some(("send", Some(to))),
        Call::Request(to) => Some(("request", Some(to))),
        Call::App(function) => Some(("call", Some(function))),
        Call::Publish(topic) => Some(("publish", Some(topic))),
        Call::Subscribe(pattern) => Some(("subscribe", Some(pattern))),
        Call::Unsubscribe => None,
        Call::Timers => Some(("timers", None)),
        Call::Storage => Some(("storage", None)),
    }
}

/// Whether `grants` (of `from`, in `family`) allow `call`.
pub fn allows(grants: &impl Allows, from: &str, family: Option<&Family>, call: Call<'_>) -> bool {
    needed(from, family, call).is_none_or(|(kind, target)| grants.allows_parts(kind, target))
}

/// The `permission_denied` error for `plugin` lacking what `call` needs,
/// with the permission it lacks, to audit.
pub fn denied(plugin: &str, family: Option<&Family>, call: Call<'_>) -> (Permission, WireError) {
    let (kind, target) = needed(plugin, family, call).unwrap_or(("log", None));
    let wanted = Permission::from_parts(kind, target).unwrap_or(Permission::Log);
    let error = crate::grants::denied(plugin, &wanted);
    (wanted, error)
}

/// Whether a plugin's UI panel may make `call` on the plugin's behalf: what
/// the plugin itself may do, and also message the plugin itself, and
/// follow the topics the plugin may publish on.
///
/// ```
/// use wasp_runtime::GrantSet;
/// use wasp_runtime::rules::{Call, panel_allows};
/// let none = GrantSet::default();
/// assert!(panel_allows(&none, "clock", None, Call::Request("clock")), "its own plugin");
/// assert!(!panel_allows(&none, "clock", None, Call::Request("vault")));
/// ```
pub fn panel_allows(grants: &impl Allows, plugin: &str, family: Option<&Family>, call: Call<'_>) -> bool {
    match call {
        Call::Send(to) | Call::Request(to) if to == plugin => true,
        Call::Subscribe(pattern) if grants.allows_parts("publish", Some(pattern)) => true,
        _ => allows(grants, plugin, family, call),
    }
}

/// What becomes of an event on `topic` for a plugin subscribed to `pattern`,
/// asked at delivery: its grants may have changed since it subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// It still holds `subscribe:` for the topic: deliver.
    Deliver,
    /// The topic is excepted from a pattern it still follows: skip this one.
    Skip,
    /// It no longer holds `subscribe:` for the pattern: the subscription ends.
    Ended,
}

/// [`Delivery`] of an event on `topic` to a subscriber of `pattern`.
///
/// ```
/// use wasp_runtime::GrantSet;
/// use wasp_runtime::rules::{Delivery, delivery};
/// assert_eq!(delivery(&GrantSet::default(), "news.*", "news.today"), Delivery::Ended);
/// ```
pub fn delivery(grants: &impl Allows, pattern: &str, topic: &str) -> Delivery {
    if grants.allows_parts("subscribe", Some(topic)) {
        Delivery::Deliver
    } else if grants.allows_parts("subscribe", Some(pattern)) {
        Delivery::Skip
    } else {
        Delivery::Ended
    }
}

/// Whether a plugin's event on `topic` may reach a user interface: it holds
/// `ui:<topic>`. (The host's own events always may.)
pub fn reaches_ui(grants: &impl Allows, topic: &str) -> bool {
    grants.allows_parts("ui", Some(topic))
}

/// Whether a panel following events as its plugin may see one on `topic`:
/// the plugin still holds `subscribe:` or `publish:` for it.
pub fn panel_follows(grants: &impl Allows, topic: &str) -> bool {
    grants.allows_parts("subscribe", Some(topic)) || grants.allows_parts("publish", Some(topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(perms: &[&str]) -> GrantSet {
        GrantSet::new(perms.iter().map(|p| p.parse().expect("a permission")).collect(), Vec::new())
    }

    fn family() -> Family {
        Family::new("pair", ["pair", "pair.ui"])
    }

    #[test]
    fn messages_are_checked_for_address_topic_and_size() {
        assert_eq!(check_address("..").unwrap_err().code, ErrorCode::InvalidArgument);
        assert!(check_address("host").is_ok());
        assert!(check_topic("a\nb").unwrap_err().message.starts_with("bad topic: "));
        assert!(check_pattern("").unwrap_err().message.starts_with("bad pattern: "));
        assert!(check_size(&[1, 2, 3], 3).is_ok());
        let e = check_size(&[1, 2, 3, 4], 3).unwrap_err();
        assert_eq!(e.message, "payload of 4 bytes exceeds the limit of 3 bytes");
    }

    #[test]
    fn each_call_needs_its_permission_except_between_siblings() {
        let f = family();
        assert_eq!(needed("pair", Some(&f), Call::Send("pair.ui")), None);
        assert_eq!(needed("pair", Some(&f), Call::Request("pair.ui")), None);
        assert_eq!(needed("pair", Some(&f), Call::Send("pair")), Some(("send", Some("pair"))), "not itself");
        assert_eq!(needed("pair", Some(&f), Call::Publish("t")), Some(("publish", Some("t"))));
        assert_eq!(needed("x", None, Call::Timers), Some(("timers", None)));
        assert_eq!(needed("x", None, Call::Storage), Some(("storage", None)));
        assert!(allows(&set(&["request:vault"]), "x", None, Call::Request("vault")));
        assert!(!allows(&set(&["request:vault"]), "x", None, Call::Send("vault")));
        let (wanted, e) = denied("x", None, Call::Send("vault"));
        assert_eq!(wanted.to_string(), "send:vault");
        assert_eq!(e.code, ErrorCode::PermissionDenied);
    }

    #[test]
    fn a_panel_may_reach_its_plugin_and_follow_what_it_publishes() {
        let grants = set(&["publish:clock.*"]);
        assert!(panel_allows(&grants, "clock", None, Call::Send("clock")));
        assert!(panel_allows(&grants, "clock", None, Call::Subscribe("clock.*")));
        assert!(!panel_allows(&grants, "clock", None, Call::Subscribe("other")));
        assert!(!panel_allows(&grants, "clock", None, Call::Publish("other")));
        assert!(panel_follows(&grants, "clock.tick"));
        assert!(!panel_follows(&grants, "other"));
    }

    #[test]
    fn delivery_follows_the_grants_of_the_moment() {
        let grants = Grants::default();
        grants.grant("subscribe:news.*".parse().expect("a permission"));
        assert_eq!(delivery(&grants, "news.*", "news.today"), Delivery::Deliver);
        grants.revoke(&"subscribe:news.sport".parse().expect("a permission")).expect("revoked");
        assert_eq!(delivery(&grants, "news.*", "news.sport"), Delivery::Skip);
        assert_eq!(delivery(&grants, "news.*", "news.today"), Delivery::Deliver);
        grants.revoke(&"subscribe:news.*".parse().expect("a permission")).expect("revoked");
        assert_eq!(delivery(&grants, "news.*", "news.today"), Delivery::Ended);
        assert!(!reaches_ui(&grants, "news.today"));
        grants.grant("ui:news.*".parse().expect("a permission"));
        assert!(reaches_ui(&grants, "news.today"));
    }
}

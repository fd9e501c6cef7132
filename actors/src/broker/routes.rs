//! The broker's route table: which plugin answers at which name. The host
//! reads and changes it only through these methods.

use std::sync::Arc;

use wasp_runtime::Family;

use super::{Broker, Route};

impl Broker {
    /// The route of the plugin at `to`, if one is loaded there.
    pub(crate) fn route(&self, to: &str) -> Option<Route> {
        self.routes.get(to).map(|r| r.value().clone())
    }

    /// Whether a plugin is loaded at `name`.
    pub(crate) fn is_routed(&self, name: &str) -> bool {
        self.routes.contains_key(name)
    }

    /// How many plugins are loaded.
    pub(crate) fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The names of the loaded plugins.
    pub(crate) fn route_names(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.key().to_string()).collect()
    }

    /// Every loaded plugin's name with its hybrid family, if it has one.
    pub(crate) fn families(&self) -> Vec<(Arc<str>, Option<Family>)> {
        self.routes.iter().map(|r| (r.key().clone(), r.value().family.clone())).collect()
    }

    /// The names of the components of the hybrid plugin `family`.
    pub(crate) fn parts_of(&self, family: &str) -> Vec<String> {
        self.routes
            .iter()
            .filter(|r| r.value().family.as_ref().is_some_and(|f| f.name() == family))
            .map(|r| r.key().to_string())
            .collect()
    }

    /// Routes `name` to `route`, unless a plugin is loaded there already:
    /// then it hands `route` back.
    pub(crate) fn add_route(&self, name: Arc<str>, route: Route) -> Result<(), Box<Route>> {
        match self.routes.entry(name) {
            dashmap::Entry::Occupied(_) => Err(Box::new(route)),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(route);
                Ok(())
            }
        }
    }

    /// Changes the route of `name` in place (a reload's new code and
    /// grants); says whether a plugin was loaded there.
    pub(crate) fn update_route(&self, name: &str, change: impl FnOnce(&mut Route)) -> bool {
        match self.routes.get_mut(name) {
            Some(mut route) => {
                change(route.value_mut());
                true
            }
            None => false,
        }
    }

    /// `each` applied to every loaded plugin's name and route.
    pub(crate) fn map_routes<T>(&self, mut each: impl FnMut(&Arc<str>, &Route) -> T) -> Vec<T> {
        self.routes.iter().map(|r| each(r.key(), r.value())).collect()
    }
}

//! The wait-for graph: which plugin instance is blocked in a synchronous
//! request on which plugin, to refuse a request that would close a cycle.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One waiting instance: a plugin's name and, in an instance pool, its
/// index (0 for a plugin of one instance).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Waiter {
    pub(crate) plugin: Arc<str>,
    pub(crate) member: usize,
}

/// Every instance blocked in a synchronous request, with the plugin it
/// waits on. Keyed by instance, so that the instances of a pool each keep
/// their own wait: one finishing its request does not erase another's.
#[derive(Debug, Default)]
pub(crate) struct WaitGraph {
    /// plugin → instance → the plugin that instance waits on.
    edges: HashMap<Arc<str>, BTreeMap<usize, Arc<str>>>,
}

impl WaitGraph {
    /// Records that `from` now waits on the plugin `to`, unless `to` waits,
    /// directly or through others, on `from`'s plugin: then nothing is
    /// recorded and the cycle is returned, `from`'s plugin first and last.
    ///
    /// A plugin waits on whatever any of its instances waits on. For a pool
    /// that is cautious: a request to it is refused while one of its
    /// instances waits on the requester, even if another instance is idle
    /// and could answer.
    pub(crate) fn begin(&mut self, from: &Waiter, to: &str) -> Result<(), Vec<String>> {
        if let Some(path) = self.path(to, &from.plugin) {
            let mut cycle = Vec::with_capacity(path.len() + 1);
            cycle.push(from.plugin.to_string());
            cycle.extend(path);
            return Err(cycle);
        }
        self.edges.entry(from.plugin.clone()).or_default().insert(from.member, Arc::from(to));
        Ok(())
    }

    /// `from`'s request has ended.
    pub(crate) fn end(&mut self, from: &Waiter) {
        if let Some(members) = self.edges.get_mut(&from.plugin) {
            members.remove(&from.member);
            if members.is_empty() {
                self.edges.remove(&from.plugin);
            }
        }
    }

    /// A chain of waits from the plugin `start` to the plugin `goal`, both
    /// included, if there is one.
    fn path(&self, start: &str, goal: &str) -> Option<Vec<String>> {
        let mut came_from: HashMap<&str, &str> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::from([start]);
        let mut frontier = vec![start];
        while let Some(at) = frontier.pop() {
            if at == goal {
                let mut path = vec![at.to_owned()];
                let mut step = at;
                while let Some(&before) = came_from.get(step) {
                    path.push(before.to_owned());
                    step = before;
                }
                path.reverse();
                return Some(path);
            }
            for next in self.edges.get(at).into_iter().flat_map(|m| m.values()) {
                if seen.insert(next) {
                    came_from.insert(next, at);
                    frontier.push(next);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(plugin: &str, member: usize) -> Waiter {
        Waiter { plugin: Arc::from(plugin), member }
    }

    #[test]
    fn a_request_closing_a_cycle_is_refused_with_the_cycle() {
        let mut g = WaitGraph::default();
        g.begin(&w("a", 0), "b").unwrap();
        g.begin(&w("b", 0), "c").unwrap();
        assert_eq!(g.begin(&w("c", 0), "a"), Err(vec!["c".to_owned(), "a".into(), "b".into(), "c".into()]));
        assert_eq!(g.begin(&w("a", 1), "a"), Err(vec!["a".to_owned(), "a".into()]), "itself");
        g.end(&w("b", 0));
        assert_eq!(g.begin(&w("c", 0), "a"), Ok(()), "the chain is broken");
    }

    #[test]
    fn the_instances_of_a_pool_keep_their_own_waits() {
        let mut g = WaitGraph::default();
        // Instance 1 waits on `r`, then instance 0 on `gate`.
        g.begin(&w("p", 1), "r").unwrap();
        g.begin(&w("p", 0), "gate").unwrap();
        // `r` asking `p` would wait on instance 1, which waits on `r`.
        assert_eq!(g.begin(&w("r", 0), "p"), Err(vec!["r".to_owned(), "p".into(), "r".into()]));
        // Instance 0's request ending leaves instance 1's wait in place.
        g.end(&w("p", 0));
        assert!(g.begin(&w("r", 0), "p").is_err());
        g.end(&w("p", 1));
        assert_eq!(g.begin(&w("r", 0), "p"), Ok(()));
    }
}

//! Which RoleAssignment owns a remote assignment when several name the same one: the
//! oldest (creationTimestamp, then namespace/name) does; the others are in Conflict and
//! touch nothing remote. Kept up to date from the watch stream, so checking costs O(1).

use std::collections::HashMap;
use std::sync::Arc;

/// What one RoleAssignment claims: the remote assignment's identity (provider config plus
/// natural key) and when the claimant was created (creationTimestamp in Unix seconds, the
/// precision Kubernetes keeps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub key: String,
    pub created: i64,
}

/// Claimants of one key as `(created, object)`, oldest first. Almost always one: a sorted
/// Vec holds it in one small allocation where a BTreeSet node has room for eleven.
type Claimants = Vec<(i64, Arc<str>)>;

/// One object's claim as held: the key string is shared with `by_key`.
#[derive(Debug)]
struct Held {
    key: Arc<str>,
    created: i64,
}

/// Every claim, indexed both ways. Each object name and each key is allocated once and
/// shared between the two maps: at 10,000 RoleAssignments the copies were most of the index.
#[derive(Default, Debug)]
pub struct Claims {
    by_key: HashMap<Arc<str>, Claimants>,
    by_object: HashMap<Arc<str>, Held>,
}

impl Claims {
    /// Records `object`'s claim, replacing any earlier one (`None` withdraws it). Returns the
    /// other objects whose ownership changed because of this, so they can be reconciled.
    pub fn set(&mut self, object: &str, claim: Option<Claim>) -> Vec<String> {
        let unchanged = match (self.by_object.get(object), &claim) {
            (Some(held), Some(c)) => *held.key == *c.key && held.created == c.created,
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return Vec::new();
        }
        let mut promoted = Vec::new();
        let name = match self.by_object.remove_entry(object) {
            Some((name, old)) => {
                let was_owner = self.owner(&old.key) == Some(object);
                if let Some(set) = self.by_key.get_mut(&old.key) {
                    let entry = (old.created, name.clone());
                    if let Ok(i) = set.binary_search(&entry) {
                        set.remove(i);
                    }
                    if set.is_empty() {
                        self.by_key.remove(&old.key);
                    }
                }
                if was_owner {
                    promoted.extend(self.owner(&old.key).map(str::to_owned));
                }
                name
            }
            None => Arc::from(object),
        };
        if let Some(claim) = claim {
            let key = match self.by_key.get_key_value(claim.key.as_str()) {
                Some((key, _)) => key.clone(),
                None => Arc::from(claim.key),
            };
            let set = self.by_key.entry(key.clone()).or_default();
            let previous_owner = set.first().map(|(_, o)| o.clone());
            let entry = (claim.created, name.clone());
            if let Err(i) = set.binary_search(&entry) {
                set.insert(i, entry);
            }
            let owner = set.first().map(|(_, o)| o.clone());
            if let (Some(prev), Some(now)) = (previous_owner, owner)
                && prev != now
            {
                promoted.push(if now == name { prev } else { now }.to_string());
            }
            self.by_object.insert(
                name,
                Held {
                    key,
                    created: claim.created,
                },
            );
        }
        promoted
    }

    /// The object that owns `key`, if anyone claims it.
    pub fn owner(&self, key: &str) -> Option<&str> {
        self.by_key
            .get(key)
            .and_then(|set| set.first())
            .map(|(_, o)| &**o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &str, created: &str) -> Option<Claim> {
        let created = created.parse::<jiff::Timestamp>().unwrap().as_second();
        Some(Claim {
            key: key.into(),
            created,
        })
    }

    #[test]
    fn oldest_claimant_owns() {
        let mut c = Claims::default();
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        assert_eq!(c.owner("k"), Some("ns/old"));
    }

    #[test]
    fn same_time_breaks_ties_by_name() {
        let mut c = Claims::default();
        c.set("ns/b", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/a", claim("k", "2026-01-01T00:00:00Z"));
        assert_eq!(c.owner("k"), Some("ns/a"));
    }

    #[test]
    fn removing_the_owner_promotes_the_next() {
        let mut c = Claims::default();
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        assert_eq!(c.set("ns/old", None), vec!["ns/new".to_string()]);
        assert_eq!(c.owner("k"), Some("ns/new"));
        assert_eq!(c.set("ns/new", None), Vec::<String>::new());
        assert_eq!(c.owner("k"), None);
    }

    #[test]
    fn removing_a_non_owner_promotes_nobody() {
        let mut c = Claims::default();
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        assert!(c.set("ns/new", None).is_empty());
        assert_eq!(c.owner("k"), Some("ns/old"));
    }

    #[test]
    fn older_arrival_displaces_owner_and_reports_it() {
        let mut c = Claims::default();
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        // The displaced owner must learn it is now in Conflict.
        assert_eq!(
            c.set("ns/old", claim("k", "2026-01-01T00:00:00Z")),
            vec!["ns/new".to_string()]
        );
        assert_eq!(c.owner("k"), Some("ns/old"));
    }

    #[test]
    fn changing_key_releases_the_old_one() {
        let mut c = Claims::default();
        c.set("ns/a", claim("k1", "2026-01-01T00:00:00Z"));
        c.set("ns/b", claim("k1", "2026-01-02T00:00:00Z"));
        assert_eq!(
            c.set("ns/a", claim("k2", "2026-01-01T00:00:00Z")),
            vec!["ns/b".to_string()]
        );
        assert_eq!(c.owner("k1"), Some("ns/b"));
        assert_eq!(c.owner("k2"), Some("ns/a"));
    }

    #[test]
    fn unchanged_claim_is_a_no_op() {
        let mut c = Claims::default();
        c.set("ns/a", claim("k", "2026-01-01T00:00:00Z"));
        assert!(c.set("ns/a", claim("k", "2026-01-01T00:00:00Z")).is_empty());
        assert_eq!(c.owner("k"), Some("ns/a"));
    }
}

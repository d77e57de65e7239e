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

/// Every claim by key. Each key is allocated once, and each object's name once. What an
/// object claimed before is told by the caller (from the cached object), so no second map
/// by object is kept.
#[derive(Default, Debug)]
pub struct Claims {
    by_key: HashMap<Arc<str>, Claimants>,
}

impl Claims {
    /// Replaces `object`'s claim `old` with `claim` (`None`: none). Returns the other
    /// objects whose ownership changed because of this, so they can be reconciled.
    pub fn set(&mut self, object: &str, old: Option<&Claim>, claim: Option<Claim>) -> Vec<String> {
        if old == claim.as_ref() {
            return Vec::new();
        }
        let mut promoted = Vec::new();
        let mut name = None;
        if let Some(old) = old {
            let was_owner = self.owner(&old.key) == Some(object);
            if let Some(set) = self.by_key.get_mut(old.key.as_str()) {
                if let Ok(i) = set
                    .binary_search_by(|(created, o)| (*created, &**o).cmp(&(old.created, object)))
                {
                    name = Some(set.remove(i).1);
                }
                if set.is_empty() {
                    self.by_key.remove(old.key.as_str());
                }
            }
            if was_owner {
                promoted.extend(self.owner(&old.key).map(str::to_owned));
            }
        }
        let name = name.unwrap_or_else(|| Arc::from(object));
        if let Some(claim) = claim {
            let key = match self.by_key.get_key_value(claim.key.as_str()) {
                Some((key, _)) => key.clone(),
                None => Arc::from(claim.key),
            };
            let set = self.by_key.entry(key).or_default();
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

/// [`Claims`] that also remembers each object's claim, where no cache tells it: for a
/// one-off computation (a plan) over objects set one by one.
#[derive(Default, Debug)]
pub struct Tracked {
    claims: Claims,
    held: HashMap<String, Claim>,
}

impl Tracked {
    /// Records `object`'s claim, replacing any earlier one (`None` withdraws it), as
    /// [`Claims::set`].
    pub fn set(&mut self, object: &str, claim: Option<Claim>) -> Vec<String> {
        let old = match &claim {
            Some(c) => self.held.insert(object.to_owned(), c.clone()),
            None => self.held.remove(object),
        };
        self.claims.set(object, old.as_ref(), claim)
    }

    pub fn owner(&self, key: &str) -> Option<&str> {
        self.claims.owner(key)
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
        let mut c = Tracked::default();
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        assert_eq!(c.owner("k"), Some("ns/old"));
    }

    #[test]
    fn same_time_breaks_ties_by_name() {
        let mut c = Tracked::default();
        c.set("ns/b", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/a", claim("k", "2026-01-01T00:00:00Z"));
        assert_eq!(c.owner("k"), Some("ns/a"));
    }

    #[test]
    fn removing_the_owner_promotes_the_next() {
        let mut c = Tracked::default();
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        assert_eq!(c.set("ns/old", None), vec!["ns/new".to_string()]);
        assert_eq!(c.owner("k"), Some("ns/new"));
        assert_eq!(c.set("ns/new", None), Vec::<String>::new());
        assert_eq!(c.owner("k"), None);
    }

    #[test]
    fn removing_a_non_owner_promotes_nobody() {
        let mut c = Tracked::default();
        c.set("ns/old", claim("k", "2026-01-01T00:00:00Z"));
        c.set("ns/new", claim("k", "2026-01-02T00:00:00Z"));
        assert!(c.set("ns/new", None).is_empty());
        assert_eq!(c.owner("k"), Some("ns/old"));
    }

    #[test]
    fn older_arrival_displaces_owner_and_reports_it() {
        let mut c = Tracked::default();
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
        let mut c = Tracked::default();
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
        let mut c = Tracked::default();
        c.set("ns/a", claim("k", "2026-01-01T00:00:00Z"));
        assert!(c.set("ns/a", claim("k", "2026-01-01T00:00:00Z")).is_empty());
        assert_eq!(c.owner("k"), Some("ns/a"));
    }
}

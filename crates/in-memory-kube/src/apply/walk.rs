//! Walks over objects guided by their field types: the field set of an object, the
//! comparison of two objects, merging an applied configuration, and removing fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement, path_to_string};
use super::{FieldTypes, ListKind};

/// Field types with `metadata` fixed as upstream's ObjectMeta declares it, whatever the
/// kind's schema says.
pub(crate) struct ObjectTypes<'a>(pub(crate) &'a dyn FieldTypes);

impl FieldTypes for ObjectTypes<'_> {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        match path {
            ["metadata", "finalizers"] => ListKind::Set,
            ["metadata", "ownerReferences"] => ListKind::Map(vec!["uid".to_owned()]),
            ["metadata", ..] => ListKind::Atomic,
            _ => self.0.list_kind(path),
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        match path {
            ["metadata", ..] => false,
            _ => self.0.map_is_atomic(path),
        }
    }
}

/// Tracks the field names and path elements down to the current node.
struct Cursor<'t> {
    types: &'t ObjectTypes<'t>,
    fields: Vec<String>,
    path: Vec<PathElement>,
}

impl<'t> Cursor<'t> {
    fn new(types: &'t ObjectTypes<'t>) -> Self {
        Self {
            types,
            fields: Vec::new(),
            path: Vec::new(),
        }
    }

    fn field_path(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    /// The list kind of the list at the current node.
    fn list_kind(&self) -> ListKind {
        self.types.list_kind(&self.field_path())
    }

    fn map_is_atomic(&self) -> bool {
        self.types.map_is_atomic(&self.field_path())
    }

    fn enter_field(&mut self, name: &str) {
        self.fields.push(name.to_owned());
        self.path.push(PathElement::Field(name.to_owned()));
    }

    fn leave_field(&mut self) {
        self.fields.pop();
        self.path.pop();
    }

    fn enter_item(&mut self, pe: PathElement) {
        self.path.push(pe);
    }

    fn leave_item(&mut self) {
        self.path.pop();
    }
}

/// How an object node is handled: merged field by field or as one value.
fn is_granular_map(cursor: &Cursor<'_>, v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) && !cursor.map_is_atomic()
}

/// The path element of a list item, or why the item cannot be keyed.
fn item_element(kind: &ListKind, index: usize, item: &Value) -> Result<PathElement, String> {
    match kind {
        ListKind::Atomic => Ok(PathElement::Index(index)),
        ListKind::Set => Ok(PathElement::Value(item.clone())),
        ListKind::Map(keys) => {
            let Value::Object(fields) = item else {
                return Err(format!(
                    "element {index}: associative list item must be an object"
                ));
            };
            let mut key: Vec<(String, Value)> = keys
                .iter()
                .filter_map(|k| fields.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            if key.is_empty() {
                return Err(format!(
                    "element {index}: associative list with keys has an element that omits all key fields {keys:?}"
                ));
            }
            key.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(key))
        }
    }
}

/// A list's items by path element in first-seen order; later duplicates are dropped or,
/// when `strict`, rejected.
fn index_items<'v>(
    cursor: &Cursor<'_>,
    kind: &ListKind,
    items: &'v [Value],
    strict: bool,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = match item_element(kind, i, item) {
            Ok(pe) => pe,
            Err(e) if strict => return Err(format!("{}: {e}", path_to_string(&cursor.path))),
            Err(_) => PathElement::Index(i),
        };
        if seen.insert(pe.clone(), ()).is_some() {
            if strict {
                return Err(format!(
                    "{}: duplicate entries for key {}",
                    path_to_string(&cursor.path),
                    path_to_string(&[pe])
                ));
            }
            continue;
        }
        out.push((pe, item));
    }
    Ok(out)
}

/// The fields an applied configuration sets, as upstream's `ToFieldSet`: leaves, list
/// items, atomic values and empty maps are members; empty granular lists set nothing.
pub(crate) fn field_set(obj: &Value, types: &ObjectTypes<'_>) -> Result<FieldSet, String> {
    let mut cursor = Cursor::new(types);
    match obj {
        Value::Object(map) => map_field_set(&mut cursor, map),
        _ => Err("the object must be a JSON object".to_owned()),
    }
}

fn map_field_set(cursor: &mut Cursor<'_>, map: &Map<String, Value>) -> Result<FieldSet, String> {
    let mut set = FieldSet::default();
    for (key, value) in map {
        cursor.enter_field(key);
        let pe = PathElement::Field(key.clone());
        let result = node_field_set(cursor, value);
        cursor.leave_field();
        match result? {
            NodeSet::Leaf => {
                set.members.insert(pe);
            }
            NodeSet::Nothing => {}
            NodeSet::Children(child) => set.insert_child(pe, child),
        }
    }
    Ok(set)
}

enum NodeSet {
    Leaf,
    Nothing,
    Children(FieldSet),
}

fn node_field_set(cursor: &mut Cursor<'_>, value: &Value) -> Result<NodeSet, String> {
    match value {
        Value::Object(_) if cursor.map_is_atomic() => Ok(NodeSet::Leaf),
        Value::Object(map) if map.is_empty() => Ok(NodeSet::Leaf),
        Value::Object(map) => map_field_set(cursor, map).map(NodeSet::Children),
        Value::Array(items) => {
            let kind = cursor.list_kind();
            if kind == ListKind::Atomic {
                return Ok(NodeSet::Leaf);
            }
            if items.is_empty() {
                return Ok(NodeSet::Nothing);
            }
            let mut set = FieldSet::default();
            for (pe, item) in index_items(cursor, &kind, items, true)? {
                set.members.insert(pe.clone());
                if let Value::Object(map) = item
                    && is_granular_map(cursor, item)
                {
                    cursor.enter_item(pe.clone());
                    let child = map_field_set(cursor, map);
                    cursor.leave_item();
                    set.insert_child(pe, child?);
                }
            }
            Ok(NodeSet::Children(set))
        }
        _ => Ok(NodeSet::Leaf),
    }
}

/// What changed from one object to another, as upstream's `Compare`.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub(crate) added: FieldSet,
    pub(crate) modified: FieldSet,
    pub(crate) removed: FieldSet,
}

/// Compares two objects (either may be absent, as for a create).
pub(crate) fn compare(old: &Value, new: &Value, types: &ObjectTypes<'_>) -> Comparison {
    let mut cursor = Cursor::new(types);
    let mut out = Comparison::default();
    compare_maps(&mut cursor, as_map(old), as_map(new), &mut out);
    out
}

fn as_map(v: &Value) -> Option<&Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn compare_maps(
    cursor: &mut Cursor<'_>,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    out: &mut Comparison,
) {
    if let Some(old) = old {
        for (key, ov) in old {
            cursor.enter_field(key);
            compare_node(cursor, Some(ov), new.and_then(|n| n.get(key)), out);
            cursor.leave_field();
        }
    }
    if let Some(new) = new {
        for (key, nv) in new {
            if old.is_some_and(|o| o.contains_key(key)) {
                continue;
            }
            cursor.enter_field(key);
            compare_node(cursor, None, Some(nv), out);
            cursor.leave_field();
        }
    }
}

fn compare_leaf(
    cursor: &Cursor<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Comparison,
) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(&cursor.path),
        (Some(_), None) => out.removed.insert(&cursor.path),
        (Some(o), Some(n)) if o != n => out.modified.insert(&cursor.path),
        _ => {}
    }
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn compare_node(
    cursor: &mut Cursor<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Comparison,
) {
    // As upstream's compare, null takes whatever form the other side has: a list replacing
    // a null one is compared item by item, and is not itself added.
    let shape = non_null(new).or(non_null(old));
    let same_shape = match (non_null(old), non_null(new)) {
        (Some(o), Some(n)) => std::mem::discriminant(o) == std::mem::discriminant(n),
        _ => true,
    };
    let descended = same_shape
        && match shape {
            Some(Value::Object(_)) => {
                let (o, n) = (old.and_then(as_map), new.and_then(as_map));
                let both_empty = o.is_none_or(Map::is_empty) && n.is_none_or(Map::is_empty);
                if cursor.map_is_atomic() || both_empty {
                    false
                } else {
                    compare_maps(cursor, o, n, out);
                    true
                }
            }
            Some(Value::Array(_)) => {
                let (o, n) = (old.and_then(Value::as_array), new.and_then(Value::as_array));
                let kind = cursor.list_kind();
                let both_empty = o.is_none_or(Vec::is_empty) && n.is_none_or(Vec::is_empty);
                if kind == ListKind::Atomic || both_empty {
                    false
                } else {
                    compare_lists(cursor, &kind, o, n, out);
                    true
                }
            }
            _ => false,
        };
    if descended {
        match (old, new) {
            (None, Some(_)) => out.added.insert(&cursor.path),
            (Some(_), None) => out.removed.insert(&cursor.path),
            _ => {}
        }
    } else {
        compare_leaf(cursor, old, new, out);
    }
}

fn compare_lists(
    cursor: &mut Cursor<'_>,
    kind: &ListKind,
    old: Option<&Vec<Value>>,
    new: Option<&Vec<Value>>,
    out: &mut Comparison,
) {
    let empty = Vec::new();
    let old_items = index_items(cursor, kind, old.unwrap_or(&empty), false).unwrap_or_default();
    let new_items = index_items(cursor, kind, new.unwrap_or(&empty), false).unwrap_or_default();
    let old_by_pe: BTreeMap<&PathElement, &Value> =
        old_items.iter().map(|(p, v)| (p, *v)).collect();
    let new_by_pe: BTreeMap<&PathElement, &Value> =
        new_items.iter().map(|(p, v)| (p, *v)).collect();
    for (pe, nv) in &new_items {
        cursor.enter_item(pe.clone());
        compare_node(cursor, old_by_pe.get(pe).copied(), Some(nv), out);
        cursor.leave_item();
    }
    for (pe, ov) in &old_items {
        if new_by_pe.contains_key(pe) {
            continue;
        }
        cursor.enter_item(pe.clone());
        compare_node(cursor, Some(ov), None, out);
        cursor.leave_item();
    }
}

/// Merges an applied configuration into the live object: granular maps field by field,
/// lists by their kind, everything else replaced by the applied value.
pub(crate) fn merge(
    live: &Value,
    applied: &Value,
    types: &ObjectTypes<'_>,
) -> Result<Value, String> {
    let mut cursor = Cursor::new(types);
    merge_node(&mut cursor, Some(live), applied)
}

fn merge_node(
    cursor: &mut Cursor<'_>,
    live: Option<&Value>,
    applied: &Value,
) -> Result<Value, String> {
    match (live, applied) {
        (Some(Value::Object(l)), Value::Object(a))
            if !(cursor.map_is_atomic() || l.is_empty() && a.is_empty()) =>
        {
            let mut out = l.clone();
            for (key, av) in a {
                cursor.enter_field(key);
                let merged = merge_node(cursor, l.get(key), av);
                cursor.leave_field();
                out.insert(key.clone(), merged?);
            }
            Ok(Value::Object(out))
        }
        (Some(Value::Array(l)), Value::Array(a)) => {
            let kind = cursor.list_kind();
            if kind == ListKind::Atomic {
                return Ok(applied.clone());
            }
            merge_lists(cursor, &kind, l, a)
        }
        (_, Value::Array(a)) => {
            let kind = cursor.list_kind();
            if kind != ListKind::Atomic {
                index_items(cursor, &kind, a, true)?;
            }
            Ok(applied.clone())
        }
        _ => Ok(applied.clone()),
    }
}

/// Merges keyed lists: applied items keep their relative order, live-only items stay
/// next to their live neighbours.
fn merge_lists(
    cursor: &mut Cursor<'_>,
    kind: &ListKind,
    live: &[Value],
    applied: &[Value],
) -> Result<Value, String> {
    let live_items = index_items(cursor, kind, live, false)?;
    let applied_items = index_items(cursor, kind, applied, true)?;
    let live_by_pe: BTreeMap<&PathElement, &Value> =
        live_items.iter().map(|(p, v)| (p, *v)).collect();
    let applied_pos: BTreeMap<&PathElement, usize> = applied_items
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p, i))
        .collect();
    let mut emitted = vec![false; applied_items.len()];
    let mut out = Vec::with_capacity(live_items.len() + applied_items.len());
    let (mut li, mut ai) = (0, 0);
    while li < live_items.len() || ai < applied_items.len() {
        if let Some((pe, lv)) = live_items.get(li) {
            match applied_pos.get(pe) {
                None => {
                    out.push((*lv).clone());
                    li += 1;
                    continue;
                }
                Some(&pos) if emitted[pos] => {
                    li += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        let Some((pe, av)) = applied_items.get(ai) else {
            li += 1;
            continue;
        };
        cursor.enter_item(pe.clone());
        let merged = merge_node(cursor, live_by_pe.get(pe).copied(), av);
        cursor.leave_item();
        out.push(merged?);
        emitted[ai] = true;
        ai += 1;
    }
    Ok(Value::Array(out))
}

/// Removes from `obj` the fields that `last` held and nobody in `owned` holds. A field
/// counts as held when it, or anything below it, is in the set. Maps and lists emptied by
/// the removal go too.
pub(crate) fn prune(obj: &mut Value, last: &FieldSet, owned: &FieldSet, types: &ObjectTypes<'_>) {
    let mut cursor = Cursor::new(types);
    prune_node(&mut cursor, obj, last, Some(owned));
}

/// Returns whether the node lost children and ended up empty.
fn prune_node(
    cursor: &mut Cursor<'_>,
    obj: &mut Value,
    last: &FieldSet,
    owned: Option<&FieldSet>,
) -> bool {
    let held = |pe: &PathElement| owned.is_some_and(|o| o.touches(pe));
    let below = |pe: &PathElement| owned.and_then(|o| o.children.get(pe));
    match obj {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|key, child| {
                let pe = PathElement::Field(key.clone());
                if !last.touches(&pe) {
                    return true;
                }
                if !held(&pe) {
                    return false;
                }
                let Some(last_child) = last.children.get(&pe) else {
                    return true;
                };
                cursor.enter_field(key);
                let emptied = prune_node(cursor, child, last_child, below(&pe));
                cursor.leave_field();
                !emptied
            });
            map.len() < before && map.is_empty()
        }
        Value::Array(items) => {
            let kind = cursor.list_kind();
            if kind == ListKind::Atomic {
                return false;
            }
            let before = items.len();
            let mut kept = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                let pe = item_element(&kind, i, &item).unwrap_or(PathElement::Index(i));
                if !last.touches(&pe) {
                    kept.push(item);
                    continue;
                }
                if !held(&pe) {
                    continue;
                }
                if let Some(last_child) = last.children.get(&pe) {
                    cursor.enter_item(pe.clone());
                    let emptied = prune_node(cursor, &mut item, last_child, below(&pe));
                    cursor.leave_item();
                    if emptied {
                        continue;
                    }
                }
                kept.push(item);
            }
            *items = kept;
            items.len() < before && items.is_empty()
        }
        _ => false,
    }
}

//! Field paths as upstream's `field.Path` prints them: `spec.items[2].name`, `spec.labels[key]`.

/// `at.name`, or `name` at the root.
pub(crate) fn child(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// `at[i]`.
pub(crate) fn index(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

/// `at[key]`, for entries of a map.
pub(crate) fn key(at: &str, key: &str) -> String {
    format!("{at}[{key}]")
}

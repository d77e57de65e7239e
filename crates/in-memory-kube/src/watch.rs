//! Watch streams: initial state, then every matching change from the retained history,
//! with bookmarks, timeouts and 410 Gone for versions no longer retained.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cluster::Shared;
use super::schema::{FieldError, FieldErrorKind};
use super::status::ApiError;
use super::store::{EventType, watch_line};
use super::verbs::{Call, Reply, Selection};
use super::{metadata, table};

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `""` or `"0"`: the current state as ADDED events, then changes.
    Now,
    /// Changes after this version.
    After(u64),
}

fn parse_start(rv: Option<&str>) -> Result<Start, ApiError> {
    match rv {
        None | Some("" | "0") => Ok(Start::Now),
        // Upstream fails deep in its storage layer, with a 500 and Go's parse error.
        Some(v) => v.parse().map(Start::After).map_err(|_| {
            ApiError::without_reason(
                500,
                format!(
                    "resourceVersion: Invalid value: \"{v}\": strconv.ParseUint: parsing {v:?}: invalid syntax"
                ),
            )
        }),
    }
}

/// When the next bookmark is due: every `interval`, and (as upstream's watch cache does)
/// from two seconds before the watch times out once a second, so that a client resumes
/// from a recent version.
fn next_bookmark(now: Instant, interval: Duration, deadline: Instant) -> Instant {
    let regular = now + interval;
    match deadline.checked_sub(Duration::from_secs(2)) {
        Some(pre_timeout) if pre_timeout < regular && pre_timeout > now => pre_timeout,
        Some(pre_timeout) if pre_timeout < regular => now + Duration::from_secs(1),
        _ => regular,
    }
}

/// The Status sent as an ERROR event when a watch cannot continue from its version.
fn gone(requested: u64, oldest: u64) -> Value {
    ApiError::expired(format!("too old resource version: {requested} ({oldest})")).to_status()
}

struct Watcher {
    shared: Arc<Shared>,
    selection: Selection,
    call: Call,
    table: bool,
    /// Objects reduced to their metadata (`as=PartialObjectMetadata`).
    metadata_only: bool,
    bookmarks: bool,
    tx: mpsc::Sender<Bytes>,
}

impl Watcher {
    fn line(&self, kind: &str, object: &Value) -> Bytes {
        let object = self.call.served.present(object);
        if self.table {
            let meta = json!({"resourceVersion": object.pointer("/metadata/resourceVersion")});
            watch_line(
                kind,
                &table::to_table(
                    &self.call.served.info,
                    &[&object],
                    meta,
                    self.call.include_object(),
                ),
            )
        } else if self.metadata_only {
            watch_line(kind, &metadata::partial(&object))
        } else {
            watch_line(kind, &object)
        }
    }

    fn in_scope(&self, namespace: &str) -> bool {
        self.call
            .namespace
            .as_deref()
            .is_none_or(|ns| ns == namespace)
    }

    /// The event type this watcher sees: selector watches see objects enter and leave.
    fn visible(
        &self,
        kind: EventType,
        object: &Value,
        previous: Option<&Value>,
    ) -> Option<EventType> {
        let now = self.selection.matches(object);
        let before = previous.is_some_and(|p| self.selection.matches(p));
        match kind {
            EventType::Added => now.then_some(EventType::Added),
            EventType::Deleted => (now || before).then_some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let info = &self.call.served.info;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        watch_line(
            "BOOKMARK",
            &json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": metadata}),
        )
    }

    async fn send(&self, line: Bytes) -> bool {
        self.tx.send(line).await.is_ok()
    }

    async fn run(self, start: Start, send_initial: bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut changes = self.shared.subscribe_changes();
        let mut stop = self.shared.subscribe_stop();
        let gr = self.call.storage();
        let snapshot = {
            let cluster = self.shared.cluster();
            match start {
                Start::After(from) if !send_initial => cluster
                    .store
                    .check_watch_from(from)
                    .map(|()| (Vec::new(), from)),
                _ => {
                    let objects: Vec<Arc<Value>> = cluster
                        .store
                        .range(&gr, self.call.namespace.as_deref(), None)
                        .filter(|(_, o)| self.selection.matches(o))
                        .map(|(_, o)| o.clone())
                        .collect();
                    Ok((objects, cluster.store.current_rv()))
                }
            }
        };
        let (initial, mut cursor) = match snapshot {
            Ok(snapshot) => snapshot,
            Err(e) => {
                let _ = self
                    .send(watch_line("ERROR", &gone(e.requested, e.oldest)))
                    .await;
                return;
            }
        };
        for object in &initial {
            if !self.send(self.line("ADDED", object)).await {
                return;
            }
        }
        // Upstream ends the initial state with this bookmark for streaming lists and for
        // watches from "" or "0" alike.
        let initial_state = send_initial || start == Start::Now;
        if initial_state && self.bookmarks && !self.send(self.bookmark(cursor, true)).await {
            return;
        }
        // Bookmarks carry the version of the resource's newest change and, as upstream's,
        // go out only once it is newer than where the watch started.
        let started_at = cursor;
        let mut resource_rv = cursor;
        let interval = self.shared.bookmark_interval;
        let mut bookmark_at = next_bookmark(Instant::now(), interval, deadline);
        loop {
            // Marks the current version seen: `changed()` below then waits for a newer one.
            changes.borrow_and_update();
            let events = self.shared.cluster().store.events_after(cursor);
            match events {
                Err(e) => {
                    let _ = self
                        .send(watch_line("ERROR", &gone(e.requested, e.oldest)))
                        .await;
                    return;
                }
                Ok(events) => {
                    // Everything that arrived since the last wake-up goes out in one write.
                    let mut batch = BytesMut::new();
                    for event in events {
                        cursor = event.rv;
                        if event.resource != gr {
                            continue;
                        }
                        resource_rv = event.rv;
                        if !self.in_scope(&event.namespace) {
                            continue;
                        }
                        let Some(kind) =
                            self.visible(event.kind, &event.object, event.previous.as_deref())
                        else {
                            continue;
                        };
                        let line = if kind == event.kind && !self.table && !self.metadata_only {
                            match event.object.get("apiVersion").and_then(Value::as_str) {
                                Some(v) if v == self.call.served.info.api_version() => event.line(),
                                _ => self.line(kind.as_str(), &event.object),
                            }
                        } else {
                            self.line(kind.as_str(), &event.object)
                        };
                        batch.extend_from_slice(&line);
                    }
                    if !batch.is_empty() && !self.send(batch.freeze()).await {
                        return;
                    }
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(bookmark_at), if self.bookmarks => {
                    if resource_rv > started_at && !self.send(self.bookmark(resource_rv, false)).await {
                        return;
                    }
                    bookmark_at = next_bookmark(Instant::now(), interval, deadline);
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = stop.changed() => return,
                () = self.tx.closed() => return,
            }
        }
    }
}

/// Without `timeoutSeconds` a watch ends after 30 minutes, upstream's default maximum.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub fn watch(shared: Arc<Shared>, call: Call) -> Result<Reply, ApiError> {
    let start = parse_start(call.query.get("resourceVersion").map(String::as_str))?;
    let send_initial = matches!(
        call.query.get("sendInitialEvents").map(String::as_str),
        Some("true" | "1")
    );
    if send_initial
        && call.query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        return Err(ApiError::invalid_options(
            "ListOptions",
            &[FieldError {
                kind: FieldErrorKind::Forbidden,
                field: "resourceVersionMatch".into(),
                bad_value: None,
                detail: "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                    .into(),
            }],
        ));
    }
    let selection = Selection::parse(&call)?;
    let timeout = match call.query.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
        None => DEFAULT_TIMEOUT,
    };
    let bookmarks = matches!(
        call.query.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let watcher = Watcher {
        shared,
        selection,
        table: table::wants_table(&call.accept),
        metadata_only: metadata::wants(&call.accept, "PartialObjectMetadata"),
        call,
        bookmarks,
        tx,
    };
    tokio::spawn(watcher.run(start, send_initial, timeout));
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>))
    });
    Ok(Reply::bytes(200, Body::from_stream(stream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_versions() {
        assert_eq!(parse_start(None), Ok(Start::Now));
        assert_eq!(parse_start(Some("0")), Ok(Start::Now));
        assert_eq!(parse_start(Some("")), Ok(Start::Now));
        assert_eq!(parse_start(Some("17")), Ok(Start::After(17)));
        assert_eq!(parse_start(Some("x")).unwrap_err().code, 500);
    }

    #[test]
    fn bookmarks_come_before_the_timeout() {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(next_bookmark(now, minute, now + minute * 30), now + minute);
        let deadline = now + Duration::from_secs(10);
        assert_eq!(
            next_bookmark(now, minute, deadline),
            deadline - Duration::from_secs(2)
        );
        assert_eq!(
            next_bookmark(deadline - Duration::from_secs(2), minute, deadline),
            deadline - Duration::from_secs(1)
        );
    }

    #[test]
    fn gone_is_an_expired_status() {
        let status = gone(3, 9);
        assert_eq!(status["code"], 410);
        assert_eq!(status["reason"], "Expired");
        assert_eq!(status["message"], "too old resource version: 3 (9)");
    }
}

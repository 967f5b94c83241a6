//! Waiting for lifecycle events in tests.

use titan_core::events::{Event, EventKind, Events};

/// The next event that `matches`, skipping the others.
pub async fn next(events: &mut Events, matches: impl Fn(&EventKind) -> bool) -> Event {
    loop {
        let event = events.recv().await.expect("the manager is alive");
        if matches(&event.kind) {
            return event;
        }
    }
}

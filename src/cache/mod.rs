//! Node-local caches of what nearly every request reads: the session behind a bearer token
//! (`accounts::auth`), each person's inbox (`workflow::service::inbox`) and the pages of the
//! document listing and search each person asked for (`documents::service::list_json`).
//!
//! **What keeps them true.** The database, not the code that writes: triggers (migrations
//! `cache_feed`, `listing_feed`) name the people (`u:<user id>`) and documents
//! (`d:<document id>`) whose cached reads a row change touches, and for the listings the
//! units (`n:<unit id>`), the archive (`archived`) and the people (`l:<user id>`) whose
//! listings a document's change may touch; the name reaches every node when the transaction
//! commits: PostgreSQL's `pg_notify` on the channel `docflow_cache`, SQLite's `cache_feed`
//! table. [`feed`] follows it on a connection of its own and drops every entry that depends
//! on a name it reads. A write from any node, from the CLI or from `psql` is seen alike.
//!
//! **When an entry may be served.** Only while [`feed`] follows the database, and only when
//! the feed has caught up with every write transaction this process committed
//! ([`committed`], called by `db::write_tx`): after a write, this node reads from the
//! database until the feed confirms it has seen the write's names (a barrier: on PostgreSQL
//! a notification of its own, delivered after every earlier commit's; on SQLite a read of
//! the feed begun after the commit). The first reader that meets an unconfirmed write asks
//! the feed for the barrier; writes nobody reads after send none. So a person always reads their own writes on the node
//! that made them. A write made on another node is seen here when its names arrive, a few
//! milliseconds after its commit (docs/OPERATIONS.md, "Sessions and inboxes from memory").
//!
//! **When an entry may be kept.** A reader takes a [`Ticket`] (the map's generation) before
//! it reads the database; every batch of names applied, and every loss or gain of the feed,
//! moves the generation on. [`Coherent::put`] keeps a value read under an older generation
//! only if none of the names applied since is one the value depends on (the map remembers
//! the last [`RECENT_NAMES`] names it applied; a ticket older than those, or than the last
//! loss of the feed, keeps nothing). So a change that commits while a reader is in the
//! database cannot leave its stale answer behind, and the office's other writes meanwhile
//! do not stop it being kept.
//! Every entry also carries the time it stops being true by itself (`Deps::valid_until`: a
//! session's expiry, a task's deadline passing, a deputy's term starting or ending).
//!
//! When the feed is lost (the listening connection dropped, a barrier not echoed in
//! [`feed::BARRIER_TIMEOUT`]) every entry is dropped and nothing is served or kept until it
//! follows again. `read_cache = false` keeps the caches closed for good.

pub mod feed;

use actix_web::web::Bytes;
use chrono::NaiveDateTime;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Write transactions this process committed (or tried to: a failed commit may still have
/// reached the database), counted by [`committed`].
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);
/// A reader met local writes the feed has not confirmed: the feed should confirm them now.
/// Only then does it (a barrier on PostgreSQL costs a notification that every node's
/// listener receives): under writes alone, nobody waits and nothing is sent.
static WANTED: AtomicBool = AtomicBool::new(false);
/// Wakes [`feed`] when a reader wants a confirmation.
static WAKE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

/// Called by `db::write_tx` after every write transaction: until the feed confirms it has
/// seen it, this node serves nothing from its caches.
pub fn committed() {
    LOCAL_WRITES.fetch_add(1, SeqCst);
}

fn local_writes() -> u64 {
    LOCAL_WRITES.load(SeqCst)
}

/// Asks the feed to confirm the local writes (once, until it takes the request).
fn want_confirmation() {
    if !WANTED.swap(true, SeqCst) {
        // Under the lock: the feed checks `WANTED` under it before it waits.
        let _guard = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
        WAKE.1.notify_all();
    }
}

/// Takes a reader's request for a confirmation, if one is waiting.
fn take_wanted() -> bool {
    WANTED.swap(false, SeqCst)
}

/// Waits at most `timeout` for a reader that wants a confirmation (the feed's pause between
/// two reads).
fn wait_for_reader(timeout: std::time::Duration) {
    let guard = WAKE.0.lock().unwrap_or_else(|e| e.into_inner());
    if WANTED.load(SeqCst) {
        return;
    }
    let _ = WAKE.1.wait_timeout(guard, timeout);
}

/// What one map keeps at most, in its own measure ([`Coherent`]'s `weigh`: sessions count
/// one each, inboxes their bytes); a map that is full keeps nothing new until names or time
/// empty it (every entry expires within [`MAX_AGE_SECS`]).
pub const SESSIONS_BUDGET: usize = 100_000;
/// See [`SESSIONS_BUDGET`]: 64 MiB of inbox JSON.
pub const INBOXES_BUDGET: usize = 64 << 20;
/// See [`SESSIONS_BUDGET`]: 64 MiB of listing pages' JSON.
pub const LISTINGS_BUDGET: usize = 64 << 20;
/// How many of the names it applied last a map remembers, for [`Coherent::put`].
pub const RECENT_NAMES: usize = 4096;

/// The longest name (in bytes) a map remembers for [`Coherent::put`]: the names the
/// triggers send are at most a prefix and an id.
const MAX_REMEMBERED_NAME: usize = 128;

/// The longest an entry is kept, whatever it depends on.
pub const MAX_AGE_SECS: i64 = 60;

/// What an entry depends on: the names whose change drops it, and when it stops being true
/// by itself.
#[derive(Debug, Clone)]
pub struct Deps {
    names: Vec<String>,
    pub valid_until: NaiveDateTime,
}

impl Deps {
    /// Depends on nothing yet; true until `now` + [`MAX_AGE_SECS`].
    pub fn new(now: NaiveDateTime) -> Self {
        Deps {
            names: Vec::new(),
            valid_until: now + chrono::Duration::seconds(MAX_AGE_SECS),
        }
    }

    /// Dropped when anything about this person changes (`u:`).
    pub fn person(&mut self, user_id: &str) {
        self.names.push(format!("u:{user_id}"));
    }

    /// Dropped when anything about this document changes (`d:`).
    pub fn document(&mut self, document_id: &str) {
        self.names.push(format!("d:{document_id}"));
    }

    /// Dropped when a document of this unit changes or is added (`n:`; a clerk's listing).
    pub fn unit(&mut self, unit_id: &str) {
        self.names.push(format!("n:{unit_id}"));
    }

    /// Dropped when an archived document changes or a document is archived (`archived`; an
    /// archivist's listing).
    pub fn archive(&mut self) {
        self.names.push("archived".to_string());
    }

    /// Dropped when a document this person drafted, was granted, or holds or acted on a task
    /// of changes, or a grant of theirs does (`l:`; their listing).
    pub fn listing_of(&mut self, user_id: &str) {
        self.names.push(format!("l:{user_id}"));
    }

    /// No longer true at `at`.
    pub fn until(&mut self, at: NaiveDateTime) {
        self.valid_until = self.valid_until.min(at);
    }
}

/// Whether the caches follow the feed, and how far the feed has confirmed local writes.
#[derive(Debug, Default)]
struct Coherence {
    following: AtomicBool,
    confirmed: AtomicU64,
}

/// A map's generation when a reader went to the database; see [`Coherent::put`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

struct Entry<V> {
    value: V,
    names: Vec<String>,
    valid_until: NaiveDateTime,
    weight: usize,
}

struct Inner<V> {
    generation: u64,
    /// A ticket older than this keeps nothing: the map was emptied since (a loss or gain of
    /// the feed, `*`).
    floor: u64,
    /// The names applied last, each with the generation its batch moved the map to, oldest
    /// first; at most [`RECENT_NAMES`].
    recent: std::collections::VecDeque<(u64, String)>,
    /// The newest generation of a name no longer in `recent`: a ticket older than this
    /// cannot tell what was applied since.
    forgotten: u64,
    /// The sum of the entries' weights.
    total: usize,
    entries: HashMap<String, Entry<V>>,
    /// name → keys of the entries that depend on it.
    by_name: HashMap<String, HashSet<String>>,
}

impl<V> Inner<V> {
    /// Whether a value read under the generation `since`, depending on `names`, is still
    /// true as far as the names applied since tell.
    fn unchanged_since(&self, since: u64, names: &[String]) -> bool {
        if since == self.generation {
            return true;
        }
        if since < self.floor || since < self.forgotten {
            return false;
        }
        !self
            .recent
            .iter()
            .rev()
            .take_while(|(g, _)| *g > since)
            .any(|(_, n)| names.contains(n))
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.total -= e.weight;
            for n in &e.names {
                if let Some(keys) = self.by_name.get_mut(n) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.by_name.remove(n);
                    }
                }
            }
        }
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.floor = self.generation;
        self.recent.clear();
        self.total = 0;
        self.entries.clear();
        self.by_name.clear();
    }
}

/// One cache: key → value, each with its [`Deps`].
pub struct Coherent<V> {
    coherence: Arc<Coherence>,
    inner: Mutex<Inner<V>>,
    /// What an entry counts against `budget`.
    weigh: fn(&V) -> usize,
    budget: usize,
}

impl<V: Clone> Coherent<V> {
    fn new(coherence: Arc<Coherence>, weigh: fn(&V) -> usize, budget: usize) -> Self {
        Coherent {
            coherence,
            weigh,
            budget,
            inner: Mutex::new(Inner {
                generation: 0,
                floor: 0,
                recent: std::collections::VecDeque::new(),
                forgotten: 0,
                total: 0,
                entries: HashMap::new(),
                by_name: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        match self.inner.lock() {
            Ok(g) => g,
            // A panic while the lock was held may have left the index half updated: start
            // over empty (and under a new generation).
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                g.clear();
                self.inner.clear_poison();
                g
            }
        }
    }

    fn serving(&self) -> bool {
        if !self.coherence.following.load(SeqCst) {
            return false;
        }
        if self.coherence.confirmed.load(SeqCst) >= local_writes() {
            return true;
        }
        want_confirmation();
        false
    }

    /// The value kept for `key`, if it may be served now.
    pub fn get(&self, key: &str, now: NaiveDateTime) -> Option<V> {
        if !self.serving() {
            return None;
        }
        let inner = self.lock();
        let e = inner.entries.get(key)?;
        (now < e.valid_until).then(|| e.value.clone())
    }

    /// Taken before reading the database for a value to [`put`](Self::put); none while the
    /// feed is not followed.
    pub fn ticket(&self) -> Option<Ticket> {
        let generation = self.lock().generation;
        self.coherence
            .following
            .load(SeqCst)
            .then_some(Ticket(generation))
    }

    /// Keeps `value` for `key`, unless a name it depends on was applied or the feed lost
    /// since `ticket` (the value may already be stale), or the map is full.
    pub fn put(&self, ticket: Option<Ticket>, key: &str, value: V, deps: Deps) {
        let Some(Ticket(generation)) = ticket else {
            return;
        };
        let mut inner = self.lock();
        if !inner.unchanged_since(generation, &deps.names) || !self.coherence.following.load(SeqCst)
        {
            return;
        }
        inner.remove(key);
        let weight = (self.weigh)(&value);
        if inner.total + weight > self.budget {
            return;
        }
        inner.total += weight;
        for n in &deps.names {
            inner
                .by_name
                .entry(n.clone())
                .or_default()
                .insert(key.to_string());
        }
        inner.entries.insert(
            key.to_string(),
            Entry {
                value,
                names: deps.names,
                valid_until: deps.valid_until,
                weight,
            },
        );
    }

    /// Drops every entry that depends on one of `names` (`*`: every entry).
    fn apply(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        if names.iter().any(|n| n == "*") {
            inner.clear();
            return;
        }
        let generation = inner.generation;
        for n in names {
            // Names come from ids; a longer one (a tool's `pg_notify` on the channel) is not
            // remembered, so no reader in flight may keep its value.
            if n.len() > MAX_REMEMBERED_NAME {
                inner.forgotten = generation;
            } else {
                inner.recent.push_back((generation, n.clone()));
            }
        }
        while inner.recent.len() > RECENT_NAMES {
            if let Some((g, _)) = inner.recent.pop_front() {
                inner.forgotten = g;
            }
        }
        for n in names {
            if let Some(keys) = inner.by_name.remove(n) {
                for k in keys {
                    inner.remove(&k);
                }
            }
        }
    }

    fn clear(&self) {
        self.lock().clear();
    }

    /// Entries kept (tests, metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The caches of one node.
pub struct Caches {
    coherence: Arc<Coherence>,
    /// Token hash → the session's user (`accounts::auth`).
    pub sessions: Coherent<crate::accounts::service::Authenticated>,
    /// User id → the inbox as JSON (`workflow::service::inbox`).
    pub inboxes: Coherent<Bytes>,
    /// Viewer and query → a page of the document listing as JSON
    /// (`documents::service::list_json`).
    pub listings: Coherent<Bytes>,
}

/// The caches of one node, shared by its workers and its [`feed`].
pub type ReadCache = Arc<Caches>;

/// Closed caches: nothing is served or kept until [`feed::start`] follows the database.
pub fn new() -> ReadCache {
    let coherence = Arc::new(Coherence::default());
    Arc::new(Caches {
        sessions: Coherent::new(coherence.clone(), |_| 1, SESSIONS_BUDGET),
        inboxes: Coherent::new(coherence.clone(), Bytes::len, INBOXES_BUDGET),
        listings: Coherent::new(coherence.clone(), Bytes::len, LISTINGS_BUDGET),
        coherence,
    })
}

impl Caches {
    /// Whether entries may be served now (the feed followed and caught up with local writes).
    pub fn serving(&self) -> bool {
        self.sessions.serving()
    }

    fn apply(&self, names: &[String]) {
        self.sessions.apply(names);
        self.inboxes.apply(names);
        self.listings.apply(names);
    }

    /// The feed is followed from now on: what commits from now on will be read.
    fn follow(&self) {
        self.sessions.clear();
        self.inboxes.clear();
        self.listings.clear();
        self.coherence.following.store(true, SeqCst);
    }

    /// The feed is lost: nothing is served or kept, and what was kept is dropped.
    fn lose(&self) {
        self.coherence.following.store(false, SeqCst);
        self.sessions.clear();
        self.inboxes.clear();
        self.listings.clear();
    }

    /// Every local write counted up to `local` is confirmed seen by the feed.
    fn confirm(&self, local: u64) {
        self.coherence.confirmed.fetch_max(local, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    /// Following, with every local write confirmed, now and later (other tests of this
    /// process write at the same time).
    fn open() -> ReadCache {
        let c = new();
        c.follow();
        c.confirm(u64::MAX);
        c
    }

    #[test]
    fn a_closed_cache_keeps_and_serves_nothing() {
        let c = new();
        assert!(c.inboxes.ticket().is_none());
        c.inboxes
            .put(c.inboxes.ticket(), "u1", Bytes::from("x"), Deps::new(t(0)));
        assert!(c.inboxes.get("u1", t(1)).is_none());
        assert!(c.inboxes.is_empty());
    }

    #[test]
    fn a_name_drops_what_depends_on_it_and_nothing_else() {
        let c = open();
        let mut a = Deps::new(t(0));
        a.person("p1");
        a.document("d1");
        let mut b = Deps::new(t(0));
        b.person("p2");
        c.inboxes.put(c.inboxes.ticket(), "u1", Bytes::from("a"), a);
        c.inboxes.put(c.inboxes.ticket(), "u2", Bytes::from("b"), b);
        c.apply(&["d:d1".to_string()]);
        assert!(c.inboxes.get("u1", t(1)).is_none());
        assert_eq!(c.inboxes.get("u2", t(1)), Some(Bytes::from("b")));
        c.apply(&["*".to_string()]);
        assert!(c.inboxes.get("u2", t(1)).is_none());
    }

    #[test]
    fn a_listing_is_dropped_by_its_unit_its_people_and_the_archive() {
        let c = open();
        let mut clerk = Deps::new(t(0));
        clerk.person("c");
        clerk.listing_of("c");
        clerk.unit("n1");
        let mut archivist = Deps::new(t(0));
        archivist.person("a");
        archivist.listing_of("a");
        archivist.archive();
        let put = |key: &str, deps: &Deps| {
            c.listings.put(
                c.listings.ticket(),
                key,
                Bytes::from(key.to_string()),
                deps.clone(),
            )
        };
        put("clerk", &clerk);
        put("archivist", &archivist);
        c.apply(&[
            "n:n2".to_string(),
            "l:someone".to_string(),
            "d:d1".to_string(),
        ]);
        assert_eq!(c.listings.len(), 2, "names of others drop nothing");
        c.apply(&["n:n1".to_string()]);
        assert!(c.listings.get("clerk", t(1)).is_none());
        assert!(c.listings.get("archivist", t(1)).is_some());
        c.apply(&["archived".to_string()]);
        assert!(c.listings.is_empty());
        put("clerk", &clerk);
        c.apply(&["l:c".to_string()]);
        assert!(c.listings.is_empty());
        put("clerk", &clerk);
        c.lose();
        assert!(
            c.listings.is_empty(),
            "losing the feed drops the listings too"
        );
    }

    #[test]
    fn what_was_read_before_its_name_arrived_is_not_kept() {
        let c = open();
        let mut deps = Deps::new(t(0));
        deps.person("p1");
        deps.document("d1");
        // Others' names meanwhile: kept.
        let ticket = c.inboxes.ticket();
        c.apply(&["u:someone-else".to_string(), "d:d2".to_string()]);
        c.apply(&["n:unit".to_string()]);
        c.inboxes
            .put(ticket, "u1", Bytes::from("fresh"), deps.clone());
        assert_eq!(c.inboxes.get("u1", t(1)), Some(Bytes::from("fresh")));
        // One of its own names meanwhile, in any batch: not kept.
        let ticket = c.inboxes.ticket();
        c.apply(&["u:someone-else".to_string()]);
        c.apply(&["u:x".to_string(), "d:d1".to_string(), "u:y".to_string()]);
        c.apply(&["u:someone-else".to_string()]);
        c.inboxes
            .put(ticket, "u2", Bytes::from("stale"), deps.clone());
        assert!(c.inboxes.get("u2", t(1)).is_none());
        // More names meanwhile than the map remembers: not kept.
        let ticket = c.inboxes.ticket();
        for i in 0..=RECENT_NAMES {
            c.apply(&[format!("u:other-{i}")]);
        }
        c.inboxes
            .put(ticket, "u3", Bytes::from("unknown"), deps.clone());
        assert!(c.inboxes.get("u3", t(1)).is_none());
        // A name too long to remember meanwhile: not kept.
        let ticket = c.inboxes.ticket();
        c.apply(&["u:".to_string() + &"x".repeat(MAX_REMEMBERED_NAME)]);
        c.inboxes
            .put(ticket, "u5", Bytes::from("unknown"), deps.clone());
        assert!(c.inboxes.get("u5", t(1)).is_none());
        // Everything dropped meanwhile (`*`): not kept.
        let ticket = c.inboxes.ticket();
        c.apply(&["*".to_string()]);
        c.inboxes.put(ticket, "u4", Bytes::from("unknown"), deps);
        assert!(c.inboxes.get("u4", t(1)).is_none());
    }

    #[test]
    fn a_full_map_keeps_nothing_more() {
        let c = open();
        let big = Bytes::from(vec![b' '; INBOXES_BUDGET / 2 + 1]);
        c.inboxes
            .put(c.inboxes.ticket(), "u1", big.clone(), Deps::new(t(0)));
        c.inboxes
            .put(c.inboxes.ticket(), "u2", big.clone(), Deps::new(t(0)));
        assert!(c.inboxes.get("u1", t(1)).is_some());
        assert!(c.inboxes.get("u2", t(1)).is_none(), "over the budget");
        // Replacing an entry gives its own weight back first.
        c.inboxes
            .put(c.inboxes.ticket(), "u1", big, Deps::new(t(0)));
        assert!(c.inboxes.get("u1", t(1)).is_some());
    }

    #[test]
    fn an_entry_ends_at_its_time() {
        let c = open();
        let mut d = Deps::new(t(0));
        d.until(t(10));
        c.inboxes.put(c.inboxes.ticket(), "u1", Bytes::from("a"), d);
        assert!(c.inboxes.get("u1", t(9)).is_some());
        assert!(c.inboxes.get("u1", t(10)).is_none());
        assert!(c.inboxes.get("u1", t(MAX_AGE_SECS + 1)).is_none());
    }

    #[test]
    fn after_a_local_write_nothing_is_served_until_the_feed_confirms_it() {
        let c = new();
        c.follow();
        c.confirm(local_writes());
        c.inboxes
            .put(c.inboxes.ticket(), "u1", Bytes::from("a"), Deps::new(t(0)));
        committed();
        assert!(c.inboxes.get("u1", t(1)).is_none());
        c.confirm(u64::MAX);
        assert!(c.inboxes.get("u1", t(1)).is_some());
    }

    #[test]
    fn losing_the_feed_drops_everything_and_stops_keeping() {
        let c = open();
        let ticket = c.inboxes.ticket();
        c.inboxes
            .put(c.inboxes.ticket(), "u1", Bytes::from("a"), Deps::new(t(0)));
        c.lose();
        assert!(c.inboxes.is_empty());
        assert!(c.inboxes.ticket().is_none());
        c.follow();
        c.inboxes
            .put(ticket, "u1", Bytes::from("old"), Deps::new(t(0)));
        assert!(c.inboxes.is_empty());
    }
}

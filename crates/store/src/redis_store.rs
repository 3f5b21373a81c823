//! The Redis backend: one node through redis-rs' `ConnectionManager`, or a Redis Cluster
//! through its async cluster client.
//!
//! Connections are lazy and self-healing: opening never touches the network, the first
//! operation connects, and a dropped connection is re-established by the next operation.
//! Every operation has a connection and a response timeout, so an unreachable Redis
//! turns into [`StoreError::Unavailable`] within a bounded time instead of a hung
//! request. Each operation is one Redis command (or one Lua script on one key), hence
//! atomic; all keys of one flow share a hash tag, so nothing here crosses slots.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, Script};
use tokio::sync::OnceCell;

use crate::journal::JournalId;
use crate::{Expiry, StoreError};

/// Time limits for talking to Redis.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long one connection attempt may take.
    pub connect: Duration,
    /// How long one command may wait for its answer.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            response: Duration::from_secs(2),
        }
    }
}

/// INCR, and on the first increment set the window's deadline; one script, one key.
const INCREMENT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// RPUSH, keep the last ARGV[2] items, set the expiry (ARGV[3] ms, 0 = none); one key.
const PUSH_CAPPED: &str = r"
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('PERSIST', KEYS[1])
end
return 1
";

/// A one-time token's rotation on one slot: GETDEL the token; if it was there, SET its
/// spent mark (PX ARGV[1], 0 = none), GET the grant, SET the next token (ARGV[2] value,
/// PX ARGV[3], when ARGV[4] is '1'); if not, whether the spent mark exists.
const ROTATE: &str = r"
local taken = redis.call('GETDEL', KEYS[1])
if not taken then return {0, redis.call('EXISTS', KEYS[2]), false} end
if tonumber(ARGV[1]) > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
else
  redis.call('SET', KEYS[2], '1')
end
local read = redis.call('GET', KEYS[3])
if ARGV[4] == '1' then
  if tonumber(ARGV[3]) > 0 then
    redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('SET', KEYS[4], ARGV[2])
  end
end
return {1, taken, read}
";

/// Appends to a journal (a stream) and drops what is past its cap or its retention,
/// atomically; one key. The retention is measured on the server's clock.
const JOURNAL_APPEND: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'v', ARGV[1])
local cutoff = now - tonumber(ARGV[3])
if cutoff > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', cutoff)
end
return id
";

/// Every item of a list, and the list deleted, atomically; one key.
const TAKE_LIST: &str = r"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
";

/// Stream entries (`[id, [\"v\", value]]`) as journal entries.
fn journal_entries(
    raw: Vec<(String, Vec<Vec<u8>>)>,
) -> Result<Vec<(JournalId, Vec<u8>)>, StoreError> {
    raw.into_iter()
        .map(|(id, mut fields)| {
            let id = JournalId::parse(&id)
                .ok_or_else(|| StoreError::Backend(format!("stream id {id:?}")))?;
            let value = fields
                .pop()
                .ok_or_else(|| StoreError::Backend("stream entry without a value".into()))?;
            Ok((id, value))
        })
        .collect()
}

/// The Redis backend. Use it through [`crate::Store::open`].
#[derive(Clone)]
pub struct RedisStore {
    target: Target,
    increment: std::sync::Arc<Script>,
    push_capped: std::sync::Arc<Script>,
    take_list: std::sync::Arc<Script>,
    journal_append: std::sync::Arc<Script>,
    rotate: std::sync::Arc<Script>,
}

#[derive(Clone)]
enum Target {
    Single(std::sync::Arc<SingleTarget>),
    Cluster(std::sync::Arc<ClusterTarget>),
}

struct SingleTarget {
    client: redis::Client,
    config: redis::aio::ConnectionManagerConfig,
    manager: OnceCell<ConnectionManager>,
}

impl SingleTarget {
    async fn manager(&self) -> Result<ConnectionManager, StoreError> {
        self.manager
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            })
            .await
            .cloned()
            .map_err(map_err)
    }
}

struct ClusterTarget {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

impl RedisStore {
    /// Parses `url` and prepares (without connecting) a single-node or cluster client.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] when the URL is not a Redis URL this build supports.
    pub fn open(url: &str, options: &crate::StoreOptions) -> Result<Self, StoreError> {
        let url = url.trim();
        let timeouts = options.timeouts;
        let certs = || redis::TlsCertificates {
            client_tls: None,
            root_cert: options.tls_root_pem.clone(),
        };
        let target = if let Some((tls, rest)) = cluster_url(url) {
            let nodes = cluster_nodes(tls, rest)?;
            let mut builder = ClusterClient::builder(nodes)
                .connection_timeout(timeouts.connect)
                .response_timeout(timeouts.response)
                .retries(2);
            if tls && options.tls_root_pem.is_some() {
                builder = builder.certs(certs());
            }
            let client = builder
                .build()
                .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", redact(url))))?;
            Target::Cluster(std::sync::Arc::new(ClusterTarget {
                client,
                conn: OnceCell::new(),
            }))
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            let client = if url.starts_with("rediss://") && options.tls_root_pem.is_some() {
                redis::Client::build_with_tls(url, certs())
            } else {
                redis::Client::open(url)
            }
            .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", redact(url))))?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeouts.connect))
                .set_response_timeout(Some(timeouts.response))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            // The manager is made on first use: creating it spawns a task, which needs a
            // runtime, and `open` must work anywhere (CLI checks, start-up).
            Target::Single(std::sync::Arc::new(SingleTarget {
                client,
                config,
                manager: OnceCell::new(),
            }))
        } else {
            return Err(StoreError::InvalidUrl(format!(
                "{}: expected memory://, redis://, rediss://, redis+cluster:// or rediss+cluster://",
                redact(url)
            )));
        };
        Ok(Self {
            target,
            increment: std::sync::Arc::new(Script::new(INCREMENT)),
            push_capped: std::sync::Arc::new(Script::new(PUSH_CAPPED)),
            take_list: std::sync::Arc::new(Script::new(TAKE_LIST)),
            journal_append: std::sync::Arc::new(Script::new(JOURNAL_APPEND)),
            rotate: std::sync::Arc::new(Script::new(ROTATE)),
        })
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        match &self.target {
            Target::Single(single) => {
                let mut c = single.manager().await?;
                cmd.query_async(&mut c).await.map_err(map_err)
            }
            Target::Cluster(cluster) => {
                let mut c = cluster_conn(&cluster.client, &cluster.conn).await?;
                cmd.query_async(&mut c).await.map_err(map_err)
            }
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: &[u8],
        expiry: Expiry,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        if let Expiry::After(d) = expiry {
            cmd.arg("PX").arg(millis(d));
        }
        let _: redis::Value = self.query(&cmd).await?;
        Ok(())
    }

    pub(crate) async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        expiry: Expiry,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("NX");
        if let Expiry::After(d) = expiry {
            cmd.arg("PX").arg(millis(d));
        }
        let answer: Option<String> = self.query(&cmd).await?;
        Ok(answer.is_some())
    }

    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GETDEL").arg(key)).await
    }

    pub(crate) async fn list(&self, key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.query(redis::cmd("LRANGE").arg(key).arg(0).arg(-1))
            .await
    }

    pub(crate) async fn rotate(
        &self,
        take: &str,
        mark: (String, Expiry),
        read: &str,
        put: Option<(String, Vec<u8>, Expiry)>,
    ) -> Result<crate::RawRotated, StoreError> {
        let ms = |e: Expiry| match e {
            Expiry::Never => 0,
            Expiry::After(d) => millis(d),
        };
        let mut invocation = self.rotate.key(take);
        invocation.key(&mark.0).key(read);
        invocation.arg(ms(mark.1));
        match &put {
            Some((key, value, expiry)) => {
                invocation.key(key);
                invocation.arg(value.as_slice()).arg(ms(*expiry)).arg("1");
            }
            None => {
                // A fourth key in the same slot, never written.
                invocation.key(take);
                invocation.arg("").arg(0).arg("0");
            }
        }
        let answer: (i64, redis::Value, redis::Value) = self.invoke(&invocation).await?;
        let bytes = |v: redis::Value| -> Result<Option<Vec<u8>>, StoreError> {
            match v {
                redis::Value::Nil => Ok(None),
                redis::Value::BulkString(b) => Ok(Some(b)),
                other => Err(StoreError::Backend(format!("rotation answered {other:?}"))),
            }
        };
        Ok(match answer {
            (0, spent, _) => crate::RawRotated::Missing {
                spent: matches!(spent, redis::Value::Int(1)),
            },
            (_, taken, read) => crate::RawRotated::Taken {
                taken: bytes(taken)?
                    .ok_or_else(|| StoreError::Backend("rotation answered no token".into()))?,
                read: bytes(read)?,
            },
        })
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let n: u64 = self.query(redis::cmd("DEL").arg(key)).await?;
        Ok(n > 0)
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        match &self.target {
            Target::Single(single) => {
                let mut c = single.manager().await?;
                invocation.invoke_async(&mut c).await.map_err(map_err)
            }
            Target::Cluster(cluster) => {
                let mut c = cluster_conn(&cluster.client, &cluster.conn).await?;
                invocation.invoke_async(&mut c).await.map_err(map_err)
            }
        }
    }

    pub(crate) async fn increment(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let mut invocation = self.increment.key(key);
        invocation.arg(millis(window));
        let n: i64 = self.invoke(&invocation).await?;
        u64::try_from(n).map_err(|_| StoreError::Backend(format!("counter went negative: {n}")))
    }

    pub(crate) async fn push_capped(
        &self,
        key: &str,
        value: Vec<u8>,
        cap: usize,
        expiry: Expiry,
    ) -> Result<(), StoreError> {
        let mut invocation = self.push_capped.key(key);
        let ms = match expiry {
            Expiry::Never => 0,
            Expiry::After(d) => millis(d),
        };
        invocation.arg(value).arg(cap.max(1)).arg(ms);
        let _: i64 = self.invoke(&invocation).await?;
        Ok(())
    }

    pub(crate) async fn journal_append(
        &self,
        key: &str,
        value: Vec<u8>,
        max_len: usize,
        keep: Duration,
    ) -> Result<JournalId, StoreError> {
        let mut invocation = self.journal_append.key(key);
        invocation.arg(value).arg(max_len.max(1)).arg(millis(keep));
        let id: String = self.invoke(&invocation).await?;
        JournalId::parse(&id).ok_or_else(|| StoreError::Backend(format!("stream id {id:?}")))
    }

    /// Newest first, strictly before `before` (`XREVRANGE`).
    pub(crate) async fn journal_before(
        &self,
        key: &str,
        before: Option<JournalId>,
        count: usize,
    ) -> Result<Vec<(JournalId, Vec<u8>)>, StoreError> {
        let end = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        let raw: Vec<(String, Vec<Vec<u8>>)> = self
            .query(
                redis::cmd("XREVRANGE")
                    .arg(key)
                    .arg(end)
                    .arg("-")
                    .arg("COUNT")
                    .arg(count.max(1)),
            )
            .await?;
        journal_entries(raw)
    }

    /// Oldest first, strictly after `after` (`XRANGE`).
    pub(crate) async fn journal_after(
        &self,
        key: &str,
        after: Option<JournalId>,
        count: usize,
    ) -> Result<Vec<(JournalId, Vec<u8>)>, StoreError> {
        let start = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let raw: Vec<(String, Vec<Vec<u8>>)> = self
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(count.max(1)),
            )
            .await?;
        journal_entries(raw)
    }

    pub(crate) async fn index_add(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .query(redis::cmd("ZADD").arg(key).arg(0).arg(member))
            .await?;
        Ok(())
    }

    pub(crate) async fn index_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let n: i64 = self.query(redis::cmd("ZREM").arg(key).arg(member)).await?;
        Ok(n == 1)
    }

    /// Members starting with `prefix` (byte order), after `after` (`ZRANGEBYLEX`).
    pub(crate) async fn index_prefix(
        &self,
        key: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let min: Vec<u8> = match after {
            Some(a) if a >= prefix => [b"(".as_slice(), a.as_bytes()].concat(),
            _ => [b"[".as_slice(), prefix.as_bytes()].concat(),
        };
        // 0xFF never occurs in UTF-8: every member starting with `prefix` sorts below.
        let max: Vec<u8> = [b"(".as_slice(), prefix.as_bytes(), &[0xFF]].concat();
        self.query(
            redis::cmd("ZRANGEBYLEX")
                .arg(key)
                .arg(min)
                .arg(max)
                .arg("LIMIT")
                .arg(0)
                .arg(limit.max(1)),
        )
        .await
    }

    pub(crate) async fn take_list(&self, key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.invoke(&self.take_list.key(key)).await
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<Option<Expiry>, StoreError> {
        let ms: i64 = self.query(redis::cmd("PTTL").arg(key)).await?;
        Ok(match ms {
            -2 => None,
            -1 => Some(Expiry::Never),
            ms => Some(Expiry::After(Duration::from_millis(
                u64::try_from(ms).unwrap_or(0),
            ))),
        })
    }

    pub(crate) async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool, StoreError> {
        let n: i64 = match expiry {
            Expiry::Never => {
                // PERSIST answers 0 both for "missing" and "already persistent".
                let exists: i64 = self.query(redis::cmd("EXISTS").arg(key)).await?;
                if exists == 0 {
                    return Ok(false);
                }
                let _: i64 = self.query(redis::cmd("PERSIST").arg(key)).await?;
                1
            }
            Expiry::After(d) => {
                self.query(redis::cmd("PEXPIRE").arg(key).arg(millis(d)))
                    .await?
            }
        };
        Ok(n == 1)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Whether the server writes its data to disk (AOF on, or RDB save points set);
    /// `None` when it will not say (CONFIG renamed or forbidden by an ACL).
    pub(crate) async fn persistence(&self) -> Result<Option<bool>, StoreError> {
        let get = |name: &str| {
            let mut cmd = redis::cmd("CONFIG");
            cmd.arg("GET").arg(name);
            cmd
        };
        let aof: Result<Vec<String>, StoreError> = self.query(&get("appendonly")).await;
        let save: Result<Vec<String>, StoreError> = self.query(&get("save")).await;
        match (aof, save) {
            (Err(e), _) | (_, Err(e)) if e.is_unavailable() => Err(e),
            (Ok(aof), Ok(save)) => {
                let aof_on = aof.get(1).is_some_and(|v| v.eq_ignore_ascii_case("yes"));
                let rdb_on = save.get(1).is_some_and(|v| !v.trim().is_empty());
                Ok(Some(aof_on || rdb_on))
            }
            _ => Ok(None),
        }
    }
}

/// Keys asked of a node per `SCAN` step.
const SCAN_COUNT: u64 = 1000;
/// Slots walked per [`RedisStore::scan`] page on a cluster.
const SLOTS_PER_PAGE: u64 = 256;
/// The number of Redis Cluster hash slots.
const SLOTS: u64 = 16_384;
/// Upper bound on the keys read from one slot at once (far above what one account or
/// one slot of a large deployment holds).
const KEYS_PER_SLOT: u64 = 1_000_000;

impl RedisStore {
    /// Deletes the keys that match `pattern` and `matches` (each of which shares the
    /// hash slot of one of the `probes`); how many.
    pub(crate) async fn purge(
        &self,
        probes: &[String],
        pattern: &str,
        matches: impl Fn(&str) -> bool,
    ) -> Result<u64, StoreError> {
        let names: Vec<String> = match &self.target {
            Target::Single(_) => {
                let mut found = Vec::new();
                let mut cursor = 0u64;
                loop {
                    let (next, page) = self.scan_step(pattern, cursor).await?;
                    found.extend(page);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
                found
            }
            Target::Cluster(_) => {
                let mut slots = Vec::with_capacity(probes.len());
                for probe in probes {
                    let slot: u64 = self
                        .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(probe))
                        .await?;
                    slots.push(slot);
                }
                slots.sort_unstable();
                slots.dedup();
                let mut found = Vec::new();
                for slot in slots {
                    found.extend(self.keys_in_slot(slot).await?);
                }
                found
            }
        };
        let mut doomed: Vec<String> = names.into_iter().filter(|k| matches(k)).collect();
        doomed.sort_unstable();
        doomed.dedup();
        let mut deleted = 0u64;
        // One DEL per key: keys of different owners may live in different slots.
        for k in &doomed {
            let n: u64 = self.query(redis::cmd("DEL").arg(k)).await?;
            deleted = deleted.saturating_add(n);
        }
        Ok(deleted)
    }

    /// One page of the keys matching `pattern` from `cursor` (0 to start); the next
    /// cursor, `None` at the end. On a cluster the cursor is the next slot to read.
    pub(crate) async fn scan(
        &self,
        pattern: &str,
        cursor: u64,
    ) -> Result<(Vec<String>, Option<u64>), StoreError> {
        match &self.target {
            Target::Single(_) => {
                let (next, keys) = self.scan_step(pattern, cursor).await?;
                Ok((keys, (next != 0).then_some(next)))
            }
            Target::Cluster(_) => {
                let end = cursor.saturating_add(SLOTS_PER_PAGE).min(SLOTS);
                let mut keys = Vec::new();
                for slot in cursor..end {
                    keys.extend(self.keys_in_slot(slot).await?);
                }
                Ok((keys, (end < SLOTS).then_some(end)))
            }
        }
    }

    async fn scan_step(
        &self,
        pattern: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), StoreError> {
        self.query(
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT),
        )
        .await
    }

    /// Every key of one slot, read on the slot's primary.
    async fn keys_in_slot(&self, slot: u64) -> Result<Vec<String>, StoreError> {
        let Target::Cluster(cluster) = &self.target else {
            return Ok(Vec::new());
        };
        let slot16 =
            u16::try_from(slot).map_err(|_| StoreError::Backend(format!("no hash slot {slot}")))?;
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("GETKEYSINSLOT").arg(slot).arg(KEYS_PER_SLOT);
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot16,
            SlotAddr::Master,
        )));
        let mut c = cluster_conn(&cluster.client, &cluster.conn).await?;
        let value = c.route_command(cmd, route).await.map_err(map_err)?;
        Vec::<String>::from_redis_value(value)
            .map_err(|e| StoreError::Backend(format!("CLUSTER GETKEYSINSLOT: {e}")))
    }
}

async fn cluster_conn(
    client: &ClusterClient,
    cell: &OnceCell<ClusterConnection>,
) -> Result<ClusterConnection, StoreError> {
    cell.get_or_try_init(|| client.get_async_connection())
        .await
        .cloned()
        .map_err(map_err)
}

/// At least one millisecond: Redis rejects `PX 0`.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Reachability (503, retried later) versus a bug or bad data. A Redis that cannot
/// serve right now is `Unavailable` whatever it says: loading its dataset after a
/// restart (`LOADING`), a replica refusing writes after a failover (`READONLY`), a
/// master down, a cluster reshuffling, writes refused for its configuration (`MISCONF`,
/// `OOM`, …: extension codes) or an ACL forbidding our commands (`NOPERM`).
fn map_err(e: RedisError) -> StoreError {
    use redis::ServerErrorKind as S;
    let backend = match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType | ErrorKind::Client => true,
        ErrorKind::Server(kind) => match kind {
            S::BusyLoading
            | S::ReadOnly
            | S::MasterDown
            | S::TryAgain
            | S::ClusterDown
            | S::Moved
            | S::Ask
            | S::NoPerm => false,
            S::ResponseError
            | S::ExecAbort
            | S::NoScript
            | S::CrossSlot
            | S::NotBusy
            | S::NoSub => true,
            // A kind added by a later redis-rs: retried later rather than a 500.
            _ => false,
        },
        _ => false,
    };
    if backend {
        StoreError::Backend(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}

/// `Some((tls, "host:port,host:port"))` for a cluster URL.
fn cluster_url(url: &str) -> Option<(bool, &str)> {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        Some((false, rest))
    } else {
        url.strip_prefix("rediss+cluster://")
            .map(|rest| (true, rest))
    }
}

/// Expands `user:pass@h1:p1,h2:p2/…` into one node URL per host.
fn cluster_nodes(tls: bool, rest: &str) -> Result<Vec<String>, StoreError> {
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (Some(auth), hosts),
        None => (None, rest),
    };
    let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
    let scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| match auth {
            Some(a) => format!("{scheme}://{a}@{h}"),
            None => format!("{scheme}://{h}"),
        })
        .collect();
    if nodes.is_empty() {
        return Err(StoreError::InvalidUrl(
            "a cluster URL names no node (expected redis+cluster://host:port,host:port)".into(),
        ));
    }
    Ok(nodes)
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_expand_to_one_url_per_node_with_shared_credentials() {
        let (tls, rest) =
            cluster_url("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001").unwrap();
        assert!(!tls);
        assert_eq!(
            cluster_nodes(tls, rest).unwrap(),
            vec![
                "redis://:secret@10.0.0.1:7000",
                "redis://:secret@10.0.0.2:7001"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_url_text_opens_or_is_refused_without_panicking(url in "\\PC{0,80}") {
            let _ = RedisStore::open(&url, &crate::StoreOptions::default());
            if let Some((tls, rest)) = cluster_url(&url) {
                let _ = cluster_nodes(tls, rest);
            }
            let _ = redact(&url);
        }
    }

    #[test]
    fn cluster_url_without_nodes_is_rejected() {
        let (tls, rest) = cluster_url("rediss+cluster://").unwrap();
        assert!(matches!(
            cluster_nodes(tls, rest),
            Err(StoreError::InvalidUrl(_))
        ));
    }

    #[test]
    fn passwords_never_appear_in_url_errors() {
        assert_eq!(
            redact("redis://:hunter2@db:6379/0"),
            "redis://***@db:6379/0"
        );
        let err = RedisStore::open("http://:hunter2@db", &crate::StoreOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

//! `GET /fleet/workers`: every worker of every host that a Prometheus-compatible query API
//! scrapes for this board, grouped by host (`serve --prometheus URL`; docs/metrics.md). This
//! host's workers come from its own `/proc` (the board's live sample, as `?live=1`); other
//! hosts' from the series their shims export (`kanban_run_info` joined to the per-worker
//! values on `instance` and `run_id`), each host with the time its data was written
//! (`kanban_workers_exposition_time_seconds`). A host whose target is down (`up == 0`) is
//! listed as unreachable with what was last known within the last hour, never dropped. No
//! protocol between shims: nothing is asked of another host's shim, no token leaves this one.
//!
//! What comes back is hostile input (SECURITY.md, "The fleet"): a compromised host exports
//! what it likes, under whatever name it likes. So:
//! - a host **is its scrape target** (`instance`, which Prometheus sets and the host cannot
//!   choose), never its `host` label: every target is listed, a name two targets (or a
//!   target and this host) claim is flagged on each (`same_name`), and only this shim's own
//!   target (the address it listens on) is taken as this host;
//! - the work is bounded, not only the bytes: each answer is read by the async worker (I/O
//!   only) and parsed on a blocking thread of the pool into compact records ([`Prometheus::vector`]),
//!   one query at a time, each holding its share of the answer budget while it is read; at
//!   most [`MAX_HOSTS`] hosts and [`MAX_WORKERS_PER_HOST`] workers a host are kept, and the
//!   answer says how many were left out (`left_out`); the join is through an index built
//!   once; the request's deadline is looked at between queries and between hosts.

pub(crate) mod prom;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::shim::ApiError;
use prom::{Failed, Keep, Prometheus, Vector};

/// How far back what a down host last reported is looked for.
const LAST_KNOWN: &str = "1h";

/// The most hosts (scrape targets) listed in one answer; the rest are counted in `left_out`.
pub const MAX_HOSTS: usize = 256;
/// The most workers listed for one host; the rest are counted in its `workers_left_out`.
pub const MAX_WORKERS_PER_HOST: usize = 1000;
/// The most targets any one query's answer is read for (a query API may scrape thousands of
/// other things: those beyond are counted, not kept).
const MAX_TARGETS: usize = 4 * MAX_HOSTS;

/// The per-worker values asked for, and the key each has in the answer (as in `?live=1`).
const VALUES: &[(&str, &str)] = &[
    ("kanban_worker_alive", "alive"),
    ("kanban_worker_wedged", "wedged"),
    ("kanban_worker_tree_rss_bytes", "tree_rss_bytes"),
    ("kanban_worker_tree_processes", "tree_processes"),
    ("kanban_worker_heartbeat_age_seconds", "heartbeat_age_s"),
    ("kanban_worker_cpu_seconds_total", "cpu_seconds"),
];

/// The keys of a worker in the answer, this host's and the others' alike.
const KEYS: &[&str] = &[
    "run_id",
    "task_id",
    "assignee",
    "profile",
    "worker_pid",
    "verdict",
    "alive",
    "wedged",
    "tree_rss_bytes",
    "tree_processes",
    "heartbeat_age_s",
    "cpu_seconds",
];

/// What each query keeps of its answer. Label 0 is always `instance`.
const BY_TARGET: Keep = Keep {
    labels: &["instance"],
    max_series: MAX_TARGETS,
    per_target: 1,
    max_targets: MAX_TARGETS,
};
const HOST_INFO: Keep = Keep {
    labels: &["instance", "host", "machine_id"],
    max_series: MAX_TARGETS,
    per_target: 1,
    max_targets: MAX_TARGETS,
};
const RUN_INFO: Keep = Keep {
    labels: &[
        "instance",
        "run_id",
        "task_id",
        "assignee",
        "profile",
        "worker_pid",
        "board",
    ],
    max_series: MAX_HOSTS * MAX_WORKERS_PER_HOST,
    per_target: MAX_WORKERS_PER_HOST,
    max_targets: MAX_HOSTS,
};
const RUN_VALUE: Keep = Keep {
    labels: &["instance", "run_id"],
    max_series: MAX_HOSTS * MAX_WORKERS_PER_HOST,
    per_target: MAX_WORKERS_PER_HOST,
    max_targets: MAX_HOSTS,
};

/// Where CPU work runs and what answers may hold: the shim's bounded pool of blocking threads
/// and its answer budget (`shim::http`), within the request's deadline.
pub trait Pool: Sync {
    /// `work` on one of the pool's threads, by the deadline.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> impl Future<Output = Result<T, ApiError>> + Send;
    /// A share of the answer budget for `bytes`, held while it lives.
    fn share(&self, bytes: usize) -> impl Future<Output = Result<Box<dyn Send>, ApiError>> + Send;
}

/// This host, from its own `/proc`: its name in claim locks, its workers (`?live=1` rows),
/// when they were read, and the address this shim listens on (its own scrape target, when
/// Prometheus scrapes it).
pub struct Local {
    pub host: String,
    pub workers: Vec<Value>,
    pub checked_at: i64,
    pub listen: Option<SocketAddr>,
}

/// The answer: `{"hosts": [...], "checked_at", "prometheus", "left_out"}`, this host first.
pub async fn workers(
    prometheus: Option<&Prometheus>,
    board: &str,
    local: Local,
    pool: &impl Pool,
    deadline: Instant,
) -> Result<Value, ApiError> {
    let Some(prom) = prometheus else {
        return pool
            .run(move || {
                let mine = mine(&local, None, Vec::new());
                Ok(json!({
                    "hosts": [mine],
                    "checked_at": crate::shim::sample::epoch_secs(),
                    "prometheus": null,
                    "left_out": {"hosts": 0, "workers": 0},
                }))
            })
            .await;
    };
    let local = Arc::new(local);
    let hosts = Arc::new(hosts(prom, &local, pool, deadline).await?);
    let mut runs = Runs::default();
    // Each host's runs of this board, now (targets up) and as last known (targets down).
    for down in [false, true] {
        let targets: Vec<&str> = hosts
            .listed
            .iter()
            .filter(|h| h.up != down)
            .map(|h| h.instance.as_str())
            .collect();
        if !targets.is_empty() {
            let (info, values) = runs_of(prom, board, &targets, down, pool, deadline).await?;
            runs.info.push(info);
            runs.values.push(values);
        }
    }
    pool.run(move || assemble(&local, &hosts, &runs, deadline))
        .await
}

/// The hosts: which targets are up, when each last wrote its exposition, what each says it
/// is (three queries, one at a time).
async fn hosts(
    prom: &Prometheus,
    local: &Arc<Local>,
    pool: &impl Pool,
    deadline: Instant,
) -> Result<Hosts, ApiError> {
    let info_query = format!("last_over_time(kanban_workers_host_info[{LAST_KNOWN}])");
    // Only the targets that export host info: a query API may scrape thousands of others.
    let up = format!("up and on(instance) {info_query}");
    let up = ask(prom, up, BY_TARGET, pool, deadline).await?;
    let written = format!("last_over_time(kanban_workers_exposition_time_seconds[{LAST_KNOWN}])");
    let written = ask(prom, written, BY_TARGET, pool, deadline).await?;
    let info = ask(prom, info_query, HOST_INFO, pool, deadline).await?;
    let local = Arc::clone(local);
    pool.run(move || Ok(Hosts::of(&up, &written, &info, &local)))
        .await
}

/// The runs of this board that `targets` report (now, or as last known when `down`), and each
/// of [`VALUES`] of those runs only.
async fn runs_of(
    prom: &Prometheus,
    board: &str,
    targets: &[&str],
    down: bool,
    pool: &impl Pool,
    deadline: Instant,
) -> Result<(Vector, Vec<Vector>), ApiError> {
    let only = targets_regex(targets);
    let over = |q: String| match down {
        true => format!("last_over_time({q}[{LAST_KNOWN}])"),
        false => q,
    };
    // This board's runs, and those of hosts with no board (`serve --no-board`: no board
    // label), which are kept only where this board has the run (`remote_worker`).
    let boards = format!("{}|", regex_escape(board));
    let query = format!("kanban_run_info{{board=~\"{boards}\",instance=~\"{only}\"}}");
    let info = ask(prom, over(query), RUN_INFO, pool, deadline).await?;
    let kept: Arc<HashSet<(Box<str>, Box<str>)>> = Arc::new(
        info.series
            .iter()
            .filter_map(|s| Some((s.label(0)?.into(), s.label(1)?.into())))
            .collect(),
    );
    let mut values = Vec::with_capacity(VALUES.len());
    for (name, _) in VALUES {
        let kept = Arc::clone(&kept);
        let filter = move |labels: &[Option<Box<str>>]| match (labels.first(), labels.get(1)) {
            (Some(Some(i)), Some(Some(r))) => kept.contains(&(i.clone(), r.clone())),
            _ => false,
        };
        let query = over(format!("{name}{{instance=~\"{only}\"}}"));
        values.push(ask_filtered(prom, query, RUN_VALUE, filter, pool, deadline).await?);
    }
    Ok((info, values))
}

/// One query's vector, read (holding a share of the answer budget as large as an answer may
/// be) and parsed on the pool, as `keep` says.
async fn ask(
    prom: &Prometheus,
    promql: String,
    keep: Keep,
    pool: &impl Pool,
    deadline: Instant,
) -> Result<Vector, ApiError> {
    ask_filtered(
        prom,
        promql,
        keep,
        |_: &[Option<Box<str>>]| true,
        pool,
        deadline,
    )
    .await
}

/// [`ask`], keeping only the series whose kept labels `filter` takes.
async fn ask_filtered(
    prom: &Prometheus,
    promql: String,
    keep: Keep,
    filter: impl Fn(&[Option<Box<str>>]) -> bool + Send + 'static,
    pool: &impl Pool,
    deadline: Instant,
) -> Result<Vector, ApiError> {
    let share = pool.share(prom::MAX_ANSWER_BYTES).await?;
    let raw = prom.fetch(&promql, deadline).await.map_err(failure)?;
    let prom = prom.clone();
    let vector = pool
        .run(move || prom.vector(&raw, keep, &filter, deadline).map_err(failure))
        .await;
    drop(share);
    vector
}

/// The answer a query's failure gets: 504 when the query API is late, 502 when it did not
/// answer as one.
fn failure(f: Failed) -> ApiError {
    match f {
        Failed::Late(why) => ApiError::new(504, why),
        Failed::Bad(why) => ApiError::new(502, why),
    }
}

/// One other host: its scrape target, what it says it is, whether its target is up, when its
/// shim last wrote its exposition.
struct Host {
    instance: String,
    name: String,
    machine_id: Option<String>,
    up: bool,
    as_of: Option<i64>,
}

/// The hosts to list: every target with a `kanban_workers_host_info` series but this shim's
/// own, at most [`MAX_HOSTS`] (by target); the names claimed by more than one.
#[derive(Default)]
struct Hosts {
    listed: Vec<Host>,
    left_out: usize,
    /// This shim's own target, when Prometheus scrapes it.
    own: Option<String>,
    /// Each name claimed by more than one (a target, or this host as "local"): who claims it.
    claimed: HashMap<String, Vec<String>>,
}

impl Hosts {
    fn of(up: &Vector, written: &Vector, info: &Vector, local: &Local) -> Hosts {
        let up: HashSet<&str> = up
            .series
            .iter()
            .filter(|s| s.value == 1.0)
            .filter_map(|s| s.label(0))
            .collect();
        let written: HashMap<&str, f64> = written
            .series
            .iter()
            .filter_map(|s| Some((s.label(0)?, s.value)))
            .collect();
        let mut all: BTreeMap<&str, Host> = BTreeMap::new();
        let mut own = None;
        for s in &info.series {
            let (Some(instance), Some(name)) = (s.label(0), s.label(1)) else {
                continue;
            };
            if local
                .listen
                .is_some_and(|l| is_own_target(instance, l, &local.host))
            {
                own = Some(instance.to_owned());
                continue;
            }
            all.entry(instance).or_insert_with(|| Host {
                instance: instance.to_owned(),
                name: name.to_owned(),
                machine_id: s.label(2).filter(|m| !m.is_empty()).map(str::to_owned),
                up: up.contains(instance),
                as_of: written.get(instance).map(|w| *w as i64),
            });
        }
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        by_name.insert(
            local.host.clone(),
            vec![own.clone().unwrap_or_else(|| "local".to_owned())],
        );
        let left_out = all.len().saturating_sub(MAX_HOSTS);
        // Shown by name (then target), the first MAX_HOSTS of them.
        let mut listed: Vec<Host> = all.into_values().collect();
        listed.sort_by(|a, b| (&a.name, &a.instance).cmp(&(&b.name, &b.instance)));
        listed.truncate(MAX_HOSTS);
        for h in &listed {
            by_name
                .entry(h.name.clone())
                .or_default()
                .push(h.instance.clone());
        }
        by_name.retain(|_, v| v.len() > 1);
        Hosts {
            listed,
            left_out,
            own,
            claimed: by_name,
        }
    }

    /// The others claiming `name`, besides `me`.
    fn same_name(&self, name: &str, me: &str) -> Vec<String> {
        self.claimed
            .get(name)
            .map(|v| v.iter().filter(|i| *i != me).cloned().collect())
            .unwrap_or_default()
    }
}

/// Whether the scrape target `instance` is this shim's own listening address `listen`: the
/// same port, on the address it listens on (any of this machine's, for a wildcard listener;
/// loopback names for a loopback one).
fn is_own_target(instance: &str, listen: SocketAddr, hostname: &str) -> bool {
    let Some((host, port)) = instance.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(listen.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) if host.eq_ignore_ascii_case("localhost") => {
            return listen.ip().is_loopback() || listen.ip().is_unspecified();
        }
        Err(_) if host == hostname => return listen.ip().is_unspecified(),
        Err(_) => return false,
    };
    if ip == listen.ip() || (ip.is_loopback() && listen.ip().is_loopback()) {
        return true;
    }
    // A wildcard listener: any address of this machine (one it can bind).
    listen.ip().is_unspecified() && std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// Each group of hosts' runs (up, then down): the `kanban_run_info` vector, and each of
/// [`VALUES`]' vectors.
#[derive(Default)]
struct Runs {
    info: Vec<Vector>,
    values: Vec<Vec<Vector>>,
}

/// The answer, from the hosts and their runs: each run joined to its values through an index
/// built once, the deadline looked at between hosts.
fn assemble(
    local: &Local,
    hosts: &Hosts,
    runs: &Runs,
    deadline: Instant,
) -> Result<Value, ApiError> {
    let joined = Joined::of(runs);
    // This board's open runs (all of them, another host's too), by run id: a boardless host's
    // worker is listed only under the run of this board it carries the marks of.
    let open: HashMap<String, String> = local
        .workers
        .iter()
        .map(|w| (text_of(&w["run_id"]), text_of(&w["task_id"])))
        .collect();
    let own = hosts.own.as_deref();
    let mut list = vec![mine(
        local,
        own,
        hosts.same_name(&local.host, own.unwrap_or("local")),
    )];
    let mut workers_left_out = 0;
    for h in &hosts.listed {
        if Instant::now() >= deadline {
            return Err(ApiError::new(
                504,
                "the fleet's answer was not assembled within the request's budget",
            ));
        }
        let (host, left) = joined.host(h, hosts, &open);
        workers_left_out += left;
        list.push(host);
    }
    Ok(json!({
        "hosts": list,
        "checked_at": crate::shim::sample::epoch_secs(),
        "prometheus": null,
        "left_out": {"hosts": hosts.left_out, "workers": workers_left_out},
    }))
}

/// The runs joined to their values through an index built once.
struct Joined<'a> {
    /// (target, run id) -> each of [`VALUES`].
    index: HashMap<(&'a str, &'a str), [Option<f64>; 6]>,
    /// Each target's runs, as kept.
    by_target: HashMap<&'a str, Vec<&'a prom::Series>>,
    /// How many runs of this board each target had (kept or not).
    seen: HashMap<&'a str, usize>,
}

impl<'a> Joined<'a> {
    fn of(runs: &'a Runs) -> Joined<'a> {
        let mut joined = Joined {
            index: HashMap::new(),
            by_target: HashMap::new(),
            seen: HashMap::new(),
        };
        for (info, values) in runs.info.iter().zip(&runs.values) {
            for (k, vector) in values.iter().enumerate() {
                for s in &vector.series {
                    if let (Some(i), Some(r), true) = (s.label(0), s.label(1), k < 6) {
                        joined.index.entry((i, r)).or_default()[k] = Some(s.value);
                    }
                }
            }
            for s in &info.series {
                if let Some(i) = s.label(0) {
                    joined.by_target.entry(i).or_default().push(s);
                }
            }
            for (i, n) in &info.per_target {
                joined.seen.insert(i, *n);
            }
        }
        joined
    }

    /// One other host's entry, and how many of its runs were left out.
    fn host(&self, h: &Host, hosts: &Hosts, open: &HashMap<String, String>) -> (Value, usize) {
        let runs = self
            .by_target
            .get(h.instance.as_str())
            .map_or(&[][..], Vec::as_slice);
        let workers: Vec<Value> = runs
            .iter()
            .filter_map(|run| remote_worker(run, &self.index, open, &h.instance))
            .collect();
        let left = self
            .seen
            .get(h.instance.as_str())
            .copied()
            .unwrap_or(0)
            .saturating_sub(runs.len());
        let host = json!({
            "host": h.name,
            "instance": h.instance,
            "up": h.up,
            "as_of": h.as_of,
            "source": "prometheus",
            "machine_id": h.machine_id,
            "same_name": hosts.same_name(&h.name, &h.instance),
            "workers": workers,
            "workers_left_out": left,
        });
        (host, left)
    }
}

/// This host's entry: its workers from `/proc`, its own target when Prometheus scrapes it,
/// and the targets that claim its name.
fn mine(local: &Local, own: Option<&str>, same_name: Vec<String>) -> Value {
    json!({
        "host": local.host,
        "instance": own,
        "up": true,
        "as_of": local.checked_at,
        "source": "local",
        "same_name": same_name,
        "workers": local.workers.iter().map(local_worker).collect::<Vec<_>>(),
        "workers_left_out": 0,
    })
}

/// One run another host reports, with its values. A run without a board label (a host with
/// no board) is listed only when `open` (this board's open runs: run id to task id) has it,
/// with the same task.
fn remote_worker(
    run: &prom::Series,
    index: &HashMap<(&str, &str), [Option<f64>; 6]>,
    open: &HashMap<String, String>,
    instance: &str,
) -> Option<Value> {
    // RUN_INFO's labels, in order.
    let label = |k: usize| run.label(k).map(str::to_owned);
    let run_id = label(1).unwrap_or_default();
    let boardless = label(6).is_none_or(|b| b.is_empty());
    if boardless && open.get(&run_id) != Some(&label(2).unwrap_or_default()) {
        return None;
    }
    let mut w = Map::new();
    w.insert("run_id".into(), number_or_text(&run_id));
    w.insert("task_id".into(), json!(label(2)));
    w.insert("assignee".into(), json!(label(3)));
    w.insert("profile".into(), json!(label(4)));
    w.insert(
        "worker_pid".into(),
        label(5).map_or(Value::Null, |p| number_or_text(&p)),
    );
    let values = index
        .get(&(instance, run_id.as_str()))
        .copied()
        .unwrap_or_default();
    for ((_, key), value) in VALUES.iter().zip(values) {
        w.insert((*key).into(), value.map_or(Value::Null, float));
    }
    let alive = w["alive"].as_f64().map(|a| a == 1.0);
    let wedged = w["wedged"].as_f64() == Some(1.0);
    let verdict = match alive {
        Some(true) if wedged => "wedged",
        Some(true) => "alive",
        Some(false) => "not alive",
        None => "unknown",
    };
    w.insert("verdict".into(), json!(verdict));
    Some(Value::Object(w))
}

/// This host's worker, from a `?live=1` row, with the keys the others have.
fn local_worker(row: &Value) -> Value {
    let mut w = Map::new();
    for key in KEYS {
        let value = match *key {
            "assignee" => row["task_assignee"].clone(),
            "verdict" => match (&row["alive"], &row["wedged"]) {
                (Value::Bool(true), Value::Bool(true)) => json!("wedged"),
                (Value::Bool(true), _) => json!("alive"),
                _ => row["verdict"].clone(),
            },
            k => row[k].clone(),
        };
        w.insert((*key).into(), value);
    }
    Value::Object(w)
}

/// A row's value as the text a label carries (a number without quotes).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn number_or_text(text: &str) -> Value {
    text.parse::<i64>()
        .map_or_else(|_| json!(text), |n| json!(n))
}

/// A PromQL regular expression matching exactly these targets.
fn targets_regex(targets: &[&str]) -> String {
    targets
        .iter()
        .map(|i| regex_escape(i))
        .collect::<Vec<_>>()
        .join("|")
}

/// `text` as a literal in a PromQL regular expression (RE2).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

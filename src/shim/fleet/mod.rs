//! `GET /fleet/workers`: every worker of every host that a Prometheus-compatible query API
//! scrapes for this board, grouped by host (`serve --prometheus URL`; docs/metrics.md). This
//! host's workers come from its own `/proc` (the board's live sample, as `?live=1`); other
//! hosts' from the series their shims export (`kanban_run_info` joined to the per-worker
//! values on `instance` and `run_id`), each host with the time its data was written
//! (`kanban_workers_exposition_time_seconds`). A host whose target is down (`up == 0`) is
//! listed as unreachable with what was last known within the last hour, never dropped. No
//! protocol between shims: nothing is asked of another host's shim, no token leaves this one.

pub mod prom;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::shim::ApiError;
use prom::{Failed, Prometheus, Series};

/// How far back what a down host last reported is looked for.
const LAST_KNOWN: &str = "1h";

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

/// This host, from its own `/proc`: its name in claim locks, its workers (`?live=1` rows),
/// and when they were read.
pub struct Local {
    pub host: String,
    pub workers: Vec<Value>,
    pub checked_at: i64,
}

/// The answer: `{"hosts": [...], "checked_at", "prometheus"}`, this host first.
pub async fn workers(
    prometheus: Option<&Prometheus>,
    board: &str,
    local: Local,
    deadline: Instant,
) -> Result<Value, ApiError> {
    let now = crate::shim::sample::epoch_secs();
    let mine = json!({
        "host": local.host,
        "up": true,
        "as_of": local.checked_at,
        "source": "local",
        "workers": local.workers.iter().map(local_worker).collect::<Vec<_>>(),
    });
    let Some(prom) = prometheus else {
        return Ok(json!({"hosts": [mine], "checked_at": now, "prometheus": null}));
    };
    let ask = |q: String| {
        let prom = prom.clone();
        async move { prom.query(&q, deadline).await }
    };
    let (up, written, info) = tokio::join!(
        ask("up".to_owned()),
        ask(format!(
            "last_over_time(kanban_workers_exposition_time_seconds[{LAST_KNOWN}])"
        )),
        ask(format!(
            "last_over_time(kanban_workers_host_info[{LAST_KNOWN}])"
        )),
    );
    let (up, written, info) = (answer(up)?, answer(written)?, answer(info)?);
    let mut hosts = other_hosts(&up, &written, &info, &local.host);
    let down: Vec<&String> = hosts
        .iter()
        .filter(|(_, h)| h["up"] == false)
        .map(|(i, _)| i)
        .collect();
    let vectors = ask_all(prom, worker_queries(board, &down), deadline).await?;
    // This board's open runs (all of them, another host's too), by run id: a boardless host's
    // worker is listed only under the run of this board it carries the marks of.
    let open: HashMap<String, String> = local
        .workers
        .iter()
        .map(|w| (text_of(&w["run_id"]), text_of(&w["task_id"])))
        .collect();
    let n = 1 + VALUES.len();
    let (now_vectors, last_vectors) = vectors.split_at(n.min(vectors.len()));
    for (instance, host) in hosts.iter_mut() {
        let from = if host["up"] == true {
            now_vectors
        } else {
            last_vectors
        };
        host.insert(
            "workers".into(),
            Value::Array(remote_workers(from, instance, &open)),
        );
    }
    let mut list = vec![mine];
    let mut others: Vec<Value> = hosts.into_values().map(Value::Object).collect();
    others.sort_by(|a, b| a["host"].as_str().cmp(&b["host"].as_str()));
    list.extend(others);
    Ok(json!({"hosts": list, "checked_at": now, "prometheus": prom.url}))
}

/// The other hosts, by their scrape target: every `kanban_workers_host_info` series but this
/// host's, with whether its target is up, when its shim last wrote its exposition, its Hermes
/// machine id, and no workers yet.
fn other_hosts(
    up: &[Series],
    written: &[Series],
    info: &[Series],
    this_host: &str,
) -> BTreeMap<String, Map<String, Value>> {
    let mut hosts = BTreeMap::new();
    for s in info {
        let (Some(instance), Some(host)) = (s.labels.get("instance"), s.labels.get("host")) else {
            continue;
        };
        if host == this_host {
            continue;
        }
        let is_up = up
            .iter()
            .any(|u| u.labels.get("instance") == Some(instance) && u.value == 1.0);
        let as_of = written
            .iter()
            .find(|w| w.labels.get("instance") == Some(instance))
            .map(|w| w.value as i64);
        let mut h = Map::new();
        h.insert("host".into(), json!(host));
        h.insert("up".into(), json!(is_up));
        h.insert("as_of".into(), json!(as_of));
        h.insert("source".into(), json!("prometheus"));
        h.insert("instance".into(), json!(instance));
        h.insert(
            "machine_id".into(),
            json!(s.labels.get("machine_id").filter(|m| !m.is_empty())),
        );
        h.insert("workers".into(), json!([]));
        hosts.insert(instance.clone(), h);
    }
    hosts
}

/// The queries for every host's workers: `kanban_run_info` of this board (and of hosts with no
/// board) and each of [`VALUES`] now, then the same as last known for the targets that are
/// `down`.
fn worker_queries(board: &str, down: &[&String]) -> Vec<String> {
    // This board's runs, and those of hosts with no board (`serve --no-board`: no board
    // label), which are kept only where this board has the run (`remote_workers`).
    let boards = format!("{}|", regex_escape(board));
    let mut queries = vec![format!("kanban_run_info{{board=~\"{boards}\"}}")];
    queries.extend(VALUES.iter().map(|(name, _)| (*name).to_owned()));
    if !down.is_empty() {
        let instances = down
            .iter()
            .map(|i| regex_escape(i))
            .collect::<Vec<_>>()
            .join("|");
        queries.push(format!(
            "last_over_time(kanban_run_info{{board=~\"{boards}\",instance=~\"{instances}\"}}[{LAST_KNOWN}])"
        ));
        for (name, _) in VALUES {
            queries.push(format!(
                "last_over_time({name}{{instance=~\"{instances}\"}}[{LAST_KNOWN}])"
            ));
        }
    }
    queries
}

/// Every query asked at once, within `deadline`: their vectors in the queries' order, or the
/// first failure's answer.
async fn ask_all(
    prom: &Prometheus,
    queries: Vec<String>,
    deadline: Instant,
) -> Result<Vec<Vec<Series>>, ApiError> {
    let mut set = tokio::task::JoinSet::new();
    for (i, q) in queries.into_iter().enumerate() {
        let prom = prom.clone();
        set.spawn(async move { (i, prom.query(&q, deadline).await) });
    }
    let mut vectors: Vec<Vec<Series>> = vec![Vec::new(); set.len()];
    while let Some(done) = set.join_next().await {
        let (i, got) =
            done.map_err(|_| ApiError::new(500, "internal error while asking Prometheus"))?;
        vectors[i] = answer(got)?;
    }
    Ok(vectors)
}

/// A query's vector, or the answer its failure gets: 504 when the query API is late, 502
/// when it did not answer as one.
fn answer(got: Result<Vec<Series>, Failed>) -> Result<Vec<Series>, ApiError> {
    got.map_err(|f| match f {
        Failed::Late(why) => ApiError::new(504, why),
        Failed::Bad(why) => ApiError::new(502, why),
    })
}

/// One host's workers from `vectors` (`kanban_run_info`, then each of [`VALUES`]), those of
/// its target `instance`. A run without a board label (a host with no board) is listed only
/// when `open` (this board's open runs: run id to task id) has it, with the same task.
fn remote_workers(
    vectors: &[Vec<Series>],
    instance: &str,
    open: &HashMap<String, String>,
) -> Vec<Value> {
    let Some((info, values)) = vectors.split_first() else {
        return Vec::new();
    };
    let of = |s: &Series| s.labels.get("instance").map(String::as_str) == Some(instance);
    let mut out = Vec::new();
    for run in info.iter().filter(|s| of(s)) {
        let label = |k: &str| run.labels.get(k).cloned();
        let run_id = label("run_id").unwrap_or_default();
        let boardless = label("board").is_none_or(|b| b.is_empty());
        if boardless && open.get(&run_id) != Some(&label("task_id").unwrap_or_default()) {
            continue;
        }
        let mut w = Map::new();
        w.insert("run_id".into(), number_or_text(&run_id));
        w.insert("task_id".into(), json!(label("task_id")));
        w.insert("assignee".into(), json!(label("assignee")));
        w.insert("profile".into(), json!(label("profile")));
        w.insert(
            "worker_pid".into(),
            label("worker_pid").map_or(Value::Null, |p| number_or_text(&p)),
        );
        for ((_, key), vector) in VALUES.iter().zip(values) {
            let value = vector
                .iter()
                .find(|s| of(s) && s.labels.get("run_id") == Some(&run_id))
                .map(|s| s.value);
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
        out.push(Value::Object(w));
    }
    out
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

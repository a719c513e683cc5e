// kanban-workers: the control room's logic, one source for the shim's live page and the Hermes
// Workers tab (each renders it its own way: the page with the DOM, the tab with the
// dashboard's React). Pure functions over the shim's answers: no DOM, no fetch. The shim
// inlines this file into its page; `kanban-workers hermes install` writes it at the head of
// the tab's script. What the shim would do and why (`terminate_offer`, `terminate_note`,
// `may_signal`, `refusal`) is computed in SQL and only shown from here.
const KWControl = (() => {
  "use strict";
  // The most characters (code points) of one board value shown: a title or an id can be of any
  // size, and CSS would hide the excess, not drop it. Longer values are cut and end in "…".
  const TEXT_MAX = 256;
  function clip(value) {
    const s = value === null || value === undefined ? "" : String(value);
    if (s.length <= TEXT_MAX) return s;
    // 2 * TEXT_MAX UTF-16 units hold at least TEXT_MAX code points; only the last may be cut.
    const head = Array.from(s.slice(0, 2 * TEXT_MAX));
    if (s.length <= 2 * TEXT_MAX && head.length <= TEXT_MAX) return s;
    return head.slice(0, TEXT_MAX - 1).join("") + "…";
  }
  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + units[i];
  }
  function percent(p) {
    return p === null || p === undefined ? "–" : Number(p).toFixed(1) + " %";
  }
  // A length of time in seconds: "42 s", "3 min".
  function duration(s) {
    if (s === null || s === undefined) return "–";
    return Math.abs(s) < 120 ? Math.round(s) + " s" : Math.round(s / 60) + " min";
  }
  // An age that may be negative (a clock ahead of this one): "3 s ago", or "ahead by 3 s".
  function since(s) {
    if (s === null || s === undefined) return "–";
    return s >= 0 ? duration(s) + " ago" : "ahead by " + duration(-s);
  }
  // What the verdict says of a worker, and its tone: alive, wedged, far (another host's,
  // nothing read) or dead.
  function verdict(w) {
    if (w.alive === true) {
      return w.wedged ? "wedged: " + (w.wedged_reason || "") : "alive · " + (w.identity || "unverified");
    }
    if (w.alive === null) return w.reason || "another host's worker";
    return w.reason || "not alive";
  }
  function tone(w) {
    if (w.alive === true) return w.wedged ? "wedged" : "alive";
    return w.alive === null ? "far" : "dead";
  }
  // A run id the routes take (a positive integer) that a JavaScript number holds exactly: two
  // runs past 2^53 could share one, so such a run is shown and never acted on.
  function actionable(id) { return Number.isSafeInteger(id) && id > 0; }
  // What terminate would do, said before the click (the shim's terminate_offer and
  // terminate_note): the button's label, whether it is offered, the note, and what the
  // confirmation says will be signalled.
  function offer(w) {
    const enabled = actionable(w.run_id) && (w.terminate_offer === "terminate" || w.terminate_offer === "reclaim");
    const reclaim = w.terminate_offer === "reclaim";
    return {
      enabled,
      label: reclaim ? "Reclaim…" : "Terminate…",
      note: w.terminate_note || (actionable(w.run_id) ? "" : "a run id this page cannot hold exactly: not acted on"),
      confirm: reclaim
        ? `Nothing is signalled (its process is gone); task ${clip(w.task_id)} goes back to ready.`
        : `Its worker (pid ${clip(w.worker_pid)}) and its process tree get SIGTERM, then SIGKILL ` +
          `after the grace period, and task ${clip(w.task_id)} goes back to ready.`,
    };
  }
  // Pause or resume: offered only for a worker in its own proven scope (`w.scope`, from
  // live_workers: the owner's systemd scope for the run), which the shim freezes whole; said
  // why not otherwise, and what a frozen worker means to the owner's dispatcher.
  function pauseOffer(w) {
    const frozen = w && w.scope_frozen === 1;
    const scoped = !!(w && typeof w.scope === "string" && w.alive === true && w.signalable === true);
    return {
      enabled: scoped && actionable(w.run_id),
      action: frozen ? "resume" : "pause",
      label: frozen ? "Resume" : "Pause…",
      note: scoped
        ? (frozen ? "frozen: it does not run, nor heartbeat" : "")
        : "no scope of its own: pausing needs the run's systemd scope (the owner's spawn under systemd)",
      confirm: "Every process of its scope stops at once. A frozen worker does not heartbeat: the " +
        "owner's dispatcher reclaims its task once its last heartbeat is over an hour old and " +
        "the claim expires (900 s). Resume it before then.",
    };
  }
  // What each act does to the task, said beside its button: terminate reclaims (the task back
  // to ready, and the dispatcher starts it again); stop blocks it as the owner's block_task
  // does (nothing claims it again until someone unblocks it; the owner's loop counter sends a
  // task blocked twice for the same cause to triage).
  const TERMINATE_EFFECT = "terminate: the task goes back to ready and is dispatched again";
  const STOP_EFFECT = "stop: the task is blocked, not claimed again";
  // Stop, offered where terminate is (an open run of a running task whose worker may be
  // signalled, or is gone), with what it does before the click.
  function stopOffer(w) {
    const t = offer(w);
    const gone = w && w.terminate_offer === "reclaim";
    return {
      enabled: t.enabled,
      label: "Stop…",
      note: t.enabled ? "" : t.note,
      effect: STOP_EFFECT,
      confirm: (gone
        ? "Nothing is signalled (its process is gone); "
        : `Its worker (pid ${clip(w && w.worker_pid)}) and every process of the run get SIGTERM, ` +
          "then SIGKILL after the grace period; ") +
        `task ${clip(w && w.task_id)} is blocked first, as the owner's block_task blocks it, so ` +
        "the dispatcher does not start it again (blocked twice for the same cause: triage).",
    };
  }
  // The runs the board calls dead whose worker still runs (lingering_workers' ended_but_alive),
  // a run an entry, in the list's order: what the board says of it, since when, whether its task
  // runs again already (open_run_id: two workers on one task), its processes with their
  // evidence, and whether reap may end them (every process may_signal) or why not.
  function endedButAlive(rows) {
    const runs = new Map();
    for (const p of rows || []) {
      if (!p || p.ended_but_alive !== true) continue;
      const key = runKey(p);
      if (!runs.has(key)) runs.set(key, []);
      runs.get(key).push(p);
    }
    return Array.from(runs, function ([key, procs]) {
      const first = procs[0];
      const refused = procs.find(p => !p.may_signal);
      const again = first.open_run_id !== null && first.open_run_id !== undefined;
      return {
        key,
        run_id: first.run_id,
        board: typeof first.board === "string" ? first.board : null,
        title: clip(first.task_title || first.task_id || "–"),
        pids: procs.map(p => p.pid),
        may_reap: !refused && actionable(first.run_id),
        refusal: refused ? clip(`pid ${refused.pid}: ${refused.refusal}`) : "",
        line: clip(`run ${first.run_id} · ${first.task_id ?? "–"} · the board says ` +
          `${first.outcome ?? "–"} ${duration(first.outlived_s)} ago · ` +
          (again ? `its task runs again as run ${first.open_run_id}: two workers`
            : "its task may be claimed again: a second worker")),
        processes: procs.map(p => clip(`pid ${p.pid} · ${bytes(p.rss_bytes)} · ` +
          `${(p.cmdline || []).join(" ")} · evidence: ${p.evidence ?? "–"}`)),
      };
    });
  }
  // The run's scope in one line: its processes, its memory against its limit, OOM kills.
  function scopeLine(w) {
    if (!w || typeof w.scope !== "string") return "";
    const mem = w.scope_memory_bytes == null ? "memory not accounted"
      : `memory ${bytes(w.scope_memory_bytes)}` +
        (w.scope_memory_max_bytes == null ? " (no limit)" : ` of ${bytes(w.scope_memory_max_bytes)}`);
    const oom = Number(w.scope_oom_kills) > 0 ? ` · OOM-killed ${Number(w.scope_oom_kills)}×` : "";
    return clip(`scope ${w.scope} · ${w.scope_processes ?? "–"} processes · ${mem}${oom}` +
      (w.scope_frozen === 1 ? " · frozen" : ""));
  }
  // One Server-Sent Event's text (`event: ...`, `data: ...` lines) as {kind, value}: the value
  // parsed as JSON where it is.
  function sseEvent(raw) {
    let kind = "message";
    const data = [];
    for (const l of raw.split("\n")) {
      if (l.startsWith("event:")) kind = l.slice(6).trim();
      else if (l.startsWith("data:")) data.push(l.slice(5).replace(/^ /, ""));
    }
    let value;
    try { value = JSON.parse(data.join("\n")); } catch (_e) { value = data.join("\n"); }
    return { kind, value };
  }
  // The last LOG_MAX characters of a followed log, `more` appended.
  const LOG_MAX = 64 * 1024;
  function keepTail(text, more) {
    const t = text + more;
    return t.length > LOG_MAX ? t.slice(t.length - LOG_MAX) : t;
  }
  // A chart's line: `points` ([t, ...columns]), column `col`, in a box W x H from t0 to t1.
  function polyline(points, col, W, H, t0, t1, max) {
    const top = max > 0 ? max : Math.max(...points.map(p => Number(p[col]) || 0), 1);
    const span = Math.max(t1 - t0, 1);
    return points.map(p =>
      (((p[0] - t0) / span) * W).toFixed(1) + "," +
      (H - 2 - ((Number(p[col]) || 0) / top) * (H - 4)).toFixed(1)).join(" ");
  }
  // The fleet (GET fleet/workers) as both views show it: its hosts in the answer's order (this
  // one first), each keyed by its scrape target (`key`: what a host cannot choose; its name is
  // what it says), titled with its name and its target, a name another target also claims
  // flagged (`conflict`), whether its data is stale (its target down, or older than STALE_S),
  // and its workers' lines; for another host, where to act on its workers: that host's own
  // shim, the target Prometheus scrapes, with the board's query (`query`, "" for none). Never
  // from here, and no link for a target that is not a plain host:port.
  const STALE_S = 30;
  const TARGET = /^[A-Za-z0-9.:\[\]-]+$/;
  function fleetHosts(answer, query) {
    const checked = answer && answer.checked_at;
    return ((answer && answer.hosts) || []).map(function (h) {
      const age = typeof h.as_of === "number" && typeof checked === "number" ? checked - h.as_of : null;
      const local = h.source === "local";
      const instance = typeof h.instance === "string" ? clip(h.instance) : null;
      const target = !local && instance && TARGET.test(h.instance) ? h.instance : null;
      const others = Array.isArray(h.same_name) ? h.same_name.filter(o => typeof o === "string").map(clip) : [];
      const conflict = others.length > 0;
      return {
        key: local ? "local" : (instance || clip(h.host)),
        host: clip(h.host),
        instance,
        up: h.up === true,
        local,
        conflict,
        stale: h.up !== true || age === null || age > STALE_S,
        title: `${clip(h.host)}` + (instance ? ` (${instance})` : "") +
          ` · ${h.up ? "up" : "unreachable"} · data ${since(age)}` +
          (local ? " · this host" : "") +
          (conflict ? ` · ⚠ name also claimed by ${others.join(", ")}` : "") +
          (Number(h.workers_left_out) > 0 ? ` · ${Number(h.workers_left_out)} more not listed` : ""),
        act: target
          ? { href: `http://${target}/` + (query ? "?" + query : ""), label: `act on ${clip(h.host)} at ${clip(target)}` }
          : null,
        workers: (h.workers || []).map(function (w) {
          return {
            run_id: w.run_id,
            task_id: w.task_id,
            // Its shim read the worker from its own /proc (another shim of the board exports
            // the run with no value of it).
            runs_there: w.alive !== null && w.alive !== undefined,
            line: clip(`run ${w.run_id} · ${w.task_id ?? "–"} · pid ${w.worker_pid ?? "–"} · ` +
              `${w.verdict ?? "–"} · ${bytes(w.tree_rss_bytes)}`),
          };
        }),
      };
    });
  }
  // Where to act on another host's worker (`w.alive` null: the shim refuses it here): the shim
  // of the one target that reports this run of this board (same run and task) as a worker it
  // reads itself, whatever the names say; none when no target, or more than one, does.
  function actOn(w, hosts) {
    if (!w || w.alive !== null || !w.worker_host) return null;
    const reporting = (hosts || []).filter(function (h) {
      return !h.local && h.act && h.workers.some(function (x) {
        return x.run_id === w.run_id && x.task_id === w.task_id && x.runs_there;
      });
    });
    return reporting.length === 1 ? reporting[0].act : null;
  }
  // Every board at once (`?board=*`): a worker is keyed by its board and its run (run ids are
  // a board's own); on one board's list, by its run id alone.
  function runKey(w) {
    if (!w) return null;
    return typeof w.board === "string" ? w.board + "/" + w.run_id : w.run_id;
  }
  // What an every-board answer says of its boards: how many were read, each one that could not
  // be (its detail), and how many were left out; "" for one board's answer.
  function boardsLine(answer) {
    const boards = answer && Array.isArray(answer.boards) ? answer.boards : null;
    if (!boards) return "";
    const failed = boards.filter(b => b && b.status !== undefined);
    const left = Number(answer.boards_left_out) || 0;
    return clip(`${boards.length} board${boards.length === 1 ? "" : "s"}` +
      failed.map(b => ` · ${b.board} unavailable: ${b.detail}`).join("") +
      (left > 0 ? ` · ${left} more not read` : ""));
  }
  // How runs ended (GET runs/endings, issue 39 §4): a strip of the window's endings, most
  // first, each with its count, its label, its tone (ok, warn, bad) and the latest one's words
  // (the shim's, from SQL); several boards' answers summed (every board's view).
  const ENDING_LABELS = {
    spawn_refused: "host refused the spawn", spawn_failed: "spawn failed",
    rate_limited: "rate-limited", oom_killed: "OOM-killed", crashed: "crashed",
    timed_out: "timed out", gave_up: "gave up", completed: "completed", blocked: "blocked",
    reclaimed: "reclaimed", stale: "stale",
  };
  function endingTone(ending) {
    if (ending === "completed") return "ok";
    return ["rate_limited", "blocked", "review", "reclaimed", "spawn_refused"].includes(ending) ? "warn" : "bad";
  }
  function endingsStrip(answers) {
    const by = new Map();
    for (const a of answers || []) {
      for (const b of (a && Array.isArray(a.by_ending)) ? a.by_ending : []) {
        const n = Number(b.count) || 0;
        const had = by.get(b.ending);
        if (!had) by.set(b.ending, { ending: b.ending, count: n, last: b.last_ended_at, words: b.words });
        else {
          had.count += n;
          if ((Number(b.last_ended_at) || 0) > (Number(had.last) || 0)) { had.last = b.last_ended_at; had.words = b.words; }
        }
      }
    }
    return Array.from(by.values())
      .sort((x, y) => y.count - x.count || String(x.ending).localeCompare(String(y.ending)))
      .map(b => ({
        ending: clip(b.ending), count: b.count, tone: endingTone(b.ending),
        label: `${b.count} ${ENDING_LABELS[b.ending] || clip(b.ending)}`,
        words: clip(b.words || ""),
      }));
  }
  // Is anyone dispatching this board? (issue 39 §5) The shim says of each host-local claim
  // whether its claimer, the dispatcher `<host>:<pid>`, still runs (claimer_alive,
  // claimer_note). A worker's line when its claimer is gone; the board's: the dispatchers
  // alive, and each one gone with the running workers it claimed (in every board's view, by
  // board).
  function claimerLine(w) {
    if (!w || w.claimer_alive !== false) return "";
    return clip(w.claimer_note || `the dispatcher that claimed it (${w.claim_lock}) is gone`);
  }
  function dispatch(workers) {
    const alive = new Set();
    const gone = new Map();
    for (const w of workers || []) {
      if (!w) continue;
      if (w.claimer_alive === true) alive.add(String(w.claim_lock));
      if (w.claimer_alive !== false) continue;
      const key = (typeof w.board === "string" ? w.board + " " : "") + String(w.claim_lock);
      if (!gone.has(key)) gone.set(key, { board: typeof w.board === "string" ? w.board : null, claim_lock: String(w.claim_lock), runs: [] });
      gone.get(key).runs.push(w.run_id);
    }
    return {
      alive: Array.from(alive).map(clip),
      line: alive.size ? clip(`dispatched by ${Array.from(alive).join(", ")}`) : "",
      gone: Array.from(gone.values()).map(g => ({
        board: g.board,
        claim_lock: clip(g.claim_lock),
        runs: g.runs,
        line: clip((g.board !== null ? `board ${g.board}: ` : "") +
          `the dispatcher ${g.claim_lock} that claimed ${g.runs.length} running worker` +
          `${g.runs.length === 1 ? "" : "s"} (run ${g.runs.join(", ")}) is gone: no one extends ` +
          `${g.runs.length === 1 ? "its claim or reaps it" : "their claims or reaps them"}`),
      })),
    };
  }
  return Object.freeze({
    claimerLine, dispatch,
    endingsStrip,
    stopOffer, endedButAlive, TERMINATE_EFFECT, STOP_EFFECT,
    runKey, boardsLine,
    TEXT_MAX, LOG_MAX, STALE_S, clip, bytes, percent, duration, since, verdict, tone, actionable,
    offer, pauseOffer, scopeLine, sseEvent, keepTail, polyline, fleetHosts, actOn,
  });
})();

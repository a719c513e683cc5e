/**
 * kanban-workers: the Workers tab of the Hermes dashboard.
 *
 * Every worker running now on the selected board, with its verdict, CPU, memory, process
 * tree, heartbeat and the wedged flag (a dead worker with its reason), and a terminate that
 * ends a verified worker's processes and reclaims its task. Answers come from the plugin's
 * backend at /api/plugins/kanban-workers/ (behind the dashboard's session gate), which
 * forwards to the kanban-workers shim: no verdict is computed here.
 *
 * Plain script, no build step: React and the components of window.__HERMES_PLUGIN_SDK__ (so
 * it follows the dashboard's theme), registered through window.__HERMES_PLUGINS__. Board
 * text is given to React as text, never as HTML.
 */
(function () {
  "use strict";

  const SDK = window.__HERMES_PLUGIN_SDK__;
  if (!SDK) return;

  const { React } = SDK;
  const h = React.createElement;
  const { Card, CardContent, Badge, Button, Select, SelectOption } = SDK.components;
  const { useState, useEffect, useCallback, useRef } = SDK.hooks;
  const { cn } = SDK.utils;

  const API = "/api/plugins/kanban-workers";
  const KANBAN_API = "/api/plugins/kanban";
  // The kanban tab's own board pin: both tabs show the same board.
  const LS_BOARD_KEY = "hermes.kanban.selectedBoard";
  const REFRESH_MS = 2000;
  // The control room's logic, shared with the shim's page (control.js, written at the head of
  // this script by `kanban-workers hermes install`).
  const C = window.KWControl || (typeof KWControl !== "undefined" ? KWControl : null);
  if (!C) return;
  const { clip, bytes, percent } = C;
  const ago = C.since;

  function readSelectedBoard() {
    // ?board= in the tab's address first (a link to one board), then the kanban tab's pin.
    try {
      const fromUrl = new URLSearchParams(window.location.search).get("board");
      if (fromUrl && fromUrl.trim()) return fromUrl.trim();
    } catch (_e) { /* no location */ }
    try {
      const v = window.localStorage.getItem(LS_BOARD_KEY);
      return (v || "").trim() || null;
    } catch (_e) { return null; }
  }

  function writeSelectedBoard(slug) {
    try {
      if (slug) window.localStorage.setItem(LS_BOARD_KEY, slug);
    } catch (_e) { /* private mode */ }
    try {
      const url = new URL(window.location.href);
      if (url.searchParams.has("board")) {
        url.searchParams.set("board", slug);
        window.history.replaceState(window.history.state, "", url.toString());
      }
    } catch (_e) { /* ignore */ }
  }

  function withBoard(url, board) {
    if (!board) return url;
    const sep = url.indexOf("?") >= 0 ? "&" : "?";
    return `${url}${sep}board=${encodeURIComponent(board)}`;
  }

  // SDK.fetchJSON throws Error("<status>: <body>"); the body is {"detail": ...} and, for a
  // refused terminate, the processes it would have signalled.
  function apiError(err) {
    const raw = err && err.message ? String(err.message) : String(err || "");
    const m = raw.match(/^(\d{3}):\s*([\s\S]*)$/);
    const body = m ? m[2] : raw;
    try {
      const parsed = JSON.parse(body);
      if (parsed && typeof parsed.detail === "string") {
        return { status: m ? Number(m[1]) : null, detail: parsed.detail, processes: parsed.processes || null };
      }
    } catch (_e) { /* not JSON */ }
    return { status: m ? Number(m[1]) : null, detail: body || raw, processes: null };
  }

  // What the verdict says, and how it looks.
  function verdict(w) {
    return { text: C.verdict(w), tone: C.tone(w) };
  }

  function Stat(props) {
    return h("div", { className: "kw-stat" },
      h("div", { className: "kw-stat-label text-muted-foreground" }, props.label),
      h("div", { className: "kw-stat-value" }, props.value));
  }

  function Outcome(props) {
    const o = props.outcome;
    return h("div", {
      className: cn("kw-outcome", o.ok ? "kw-outcome-ok" : "kw-outcome-failed"),
      "data-kw-outcome": String(o.run_id),
      role: "status",
    },
      h("div", { className: "kw-outcome-head" },
        h("strong", null, o.pause
          ? (o.ok ? `Run ${clip(o.run_id)}: ${clip(o.detail)}` : `Run ${clip(o.run_id)}: ${clip(o.detail)}`)
          : o.reap
          ? (o.ok ? `Run ${clip(o.run_id)}: what it left behind was reaped`
            : `Run ${clip(o.run_id)}: nothing reaped: ${clip(o.detail)}`)
          : (o.ok
            ? `Run ${clip(o.run_id)} terminated: task ${clip(o.task_id)} reclaimed (back to ready)`
            : `Run ${clip(o.run_id)} not terminated: ${clip(o.detail)}`)),
        h(Button, { size: "sm", className: "h-7 text-xs", onClick: props.onDismiss }, "Dismiss")),
      o.worker ? h("div", { className: "text-xs text-muted-foreground" },
        `worker: ${clip(o.worker)}${o.evidence ? " · " + clip(o.evidence) : ""}`) : null,
      o.processes && o.processes.length
        ? h("ul", { className: "kw-processes text-xs" }, o.processes.map(function (p, i) {
          const argv = Array.isArray(p.cmdline) ? p.cmdline.join(" ") : (p.cmdline || "");
          return h("li", { key: i, "data-kw-process": String(p.pid) },
            h("span", { className: "kw-mono" }, `pid ${clip(p.pid)}`), " ",
            h(Badge, { variant: "outline" }, clip(p.outcome)), " ",
            (p.signals && p.signals.length ? clip(p.signals.join(", ")) + " · " : ""),
            p.appeared ? "appeared meanwhile · " : "",
            p.refused ? "refused: " + clip(p.refused) + " · " : "",
            h("span", { className: "kw-mono text-muted-foreground" }, clip(argv)));
        }))
        : (o.ok ? h("div", { className: "text-xs text-muted-foreground" },
          "No process was signalled (the worker was already gone).") : null));
  }

  // A worker's detail, opened from its card: its times and runtime against its limit, its
  // tree's CPU and memory over the shim's history, and its processes now (the worker's tree,
  // then what escaped it, each with its evidence). Refreshed with the list.
  function Chart(props) {
    const points = props.points || [];
    const W = 320, H = 64;
    if (points.length < 1) {
      return h("div", { className: "text-xs text-muted-foreground", "data-kw-chart": "empty" },
        "No history yet (a point every 2 s).");
    }
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    const line = function (col) { return C.polyline(points, col, W, H, t0, t1, 0); };
    return h("svg", {
      className: "kw-chart", viewBox: `0 0 ${W} ${H}`, width: "100%", height: H,
      role: "img", "aria-label": "CPU and memory of the worker's tree over time", "data-kw-chart": "drawn",
    },
      h("polyline", { points: line(1), fill: "none", stroke: "currentColor", strokeWidth: 1.5, className: "kw-chart-cpu" }),
      h("polyline", { points: line(2), fill: "none", stroke: "currentColor", strokeWidth: 1, strokeDasharray: "3 2", className: "kw-chart-rss" }));
  }

  function when(epoch) {
    if (epoch === null || epoch === undefined) return "–";
    return new Date(Number(epoch) * 1000).toLocaleTimeString();
  }

  // The run's log, followed live through the plugin (the shim's Server-Sent Events, read with
  // the dashboard's own authenticated fetch, so no token is handled here); the last 64 Ki
  // characters kept, a rotation and the end said. Shown as text.
  function LogView(props) {
    const [text, setText] = useState("");
    const [status, setStatus] = useState("connecting…");
    useEffect(function () {
      const ctl = new AbortController();
      let buffered = "";
      let kept = "";
      const url = withBoard(`${API}/runs/${encodeURIComponent(props.runId)}/log?follow=1`, props.board);
      const handle = function (block) {
        const ev = C.sseEvent(block);
        const kind = ev.kind, value = ev.value;
        if (kind === "log" && typeof value === "string") {
          kept = C.keepTail(kept, value);
          setText(kept);
        } else if (kind === "start") {
          setStatus(value && value.exists ? "following" : "waiting for the log to appear");
        } else if (kind === "rotated") {
          kept = C.keepTail(kept, "\n— the log was rotated —\n");
          setText(kept);
        } else if (kind === "end") {
          setStatus("ended: " + clip(value && value.reason));
        }
      };
      SDK.authedFetch(url, { signal: ctl.signal, headers: { Accept: "text/event-stream" } })
        .then(function (res) {
          if (!res.ok || !res.body) {
            return res.text().then(function (t) {
              setStatus("unavailable: " + clip(apiError(new Error(res.status + ": " + t)).detail));
            });
          }
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          const pump = function () {
            return reader.read().then(function (step) {
              if (step.done) return;
              buffered += decoder.decode(step.value, { stream: true });
              let at;
              while ((at = buffered.indexOf("\n\n")) >= 0) {
                handle(buffered.slice(0, at));
                buffered = buffered.slice(at + 2);
              }
              return pump();
            });
          };
          return pump();
        })
        .catch(function (e) {
          if (!ctl.signal.aborted) setStatus("unavailable: " + clip(e && e.message));
        });
      return function () { ctl.abort(); };
    }, [props.runId, props.board]);
    return h("div", { className: "flex flex-col gap-1" },
      h("div", { className: "text-xs font-medium" }, "Log ",
        h("span", { className: "text-muted-foreground", "data-kw-log-status": "" }, status)),
      h("pre", { className: "kw-log kw-mono text-xs", "data-kw-log": "" }, text));
  }

  function Detail(props) {
    const w = props.worker;
    const d = props.detail || {};
    const procs = (d.processes && d.processes.processes) || [];
    const limit = Number(w.max_runtime_seconds) || 0;
    const runtime = Number(w.runtime_s) || 0;
    return h("div", { className: "kw-detail flex flex-col gap-2", "data-kw-detail": String(w.run_id) },
      h("div", { className: "kw-stats" },
        h(Stat, { label: "Started", value: when(w.started_at) }),
        h(Stat, { label: "Heartbeat", value: w.last_heartbeat_at ? when(w.last_heartbeat_at) : "none yet" }),
        h(Stat, { label: "Claim expires", value: w.claim_expires_in_s === null || w.claim_expires_in_s === undefined ? "–" : `in ${clip(w.claim_expires_in_s)} s` })),
      limit > 0
        ? h("div", { className: "text-xs", "data-kw-runtime": "" },
          h("progress", { max: limit, value: Math.min(runtime, limit), className: "kw-runtime" }),
          ` ${Math.round(runtime)} s of ${limit} s (max_runtime_seconds)`)
        : h("div", { className: "text-xs text-muted-foreground", "data-kw-runtime": "" },
          `running ${Math.round(runtime)} s; no max_runtime_seconds`),
      h("div", { className: "text-xs text-muted-foreground" }, "CPU (solid) and memory (dashed) of the whole tree"),
      h(Chart, { points: d.history && d.history.points }),
      h("div", { className: "text-xs font-medium" }, "Processes"),
      d.error
        ? h("div", { className: "text-xs", role: "alert" }, clip(d.error))
        : h("ul", { className: "kw-processes text-xs", "data-kw-tree": "" }, procs.map(function (p) {
          const argv = Array.isArray(p.cmdline) ? p.cmdline.join(" ") : (p.cmdline || "");
          const depth = p.depth === null || p.depth === undefined ? 0 : Number(p.depth);
          return h("li", {
            key: p.pid, "data-kw-process": String(p.pid), "data-kw-member": clip(p.member),
            style: { paddingLeft: (depth * 12) + "px" },
          },
            h("span", { className: "kw-mono" }, `pid ${clip(p.pid)}`), " ",
            h(Badge, { variant: "outline" }, clip(p.member)), " ",
            p.member === "escaped" ? `escaped (${clip(p.evidence || "")}) · ` : "",
            `${percent(p.cpu_percent)} · ${bytes(p.rss_bytes)} · `,
            h("span", { className: "kw-mono text-muted-foreground" }, clip(argv)));
        })),
      h(LogView, { runId: w.run_id, board: props.board }));
  }

  function WorkerCard(props) {
    const w = props.worker;
    const v = verdict(w);
    const confirming = props.confirming;
    const busy = props.busy;
    return h(Card, {
      className: cn("kw-worker", "kw-" + v.tone),
      "data-kw-run": String(w.run_id),
    },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("button", {
          type: "button", className: "kw-title text-left", "data-kw-action": "details",
          "aria-expanded": props.open ? "true" : "false",
          onClick: function () { props.onOpen(props.open ? null : w.run_id); },
        }, clip(w.task_title || w.task_id)),
        h("div", { className: "kw-meta text-xs text-muted-foreground" },
          `run ${clip(w.run_id)} · ${clip(w.task_id)} · ${clip(w.task_assignee || "–")} · ` +
          `${clip(w.worker_host || "local")} · pid ${clip(w.worker_pid)}`),
        h("div", null,
          h(Badge, { variant: "outline", className: "kw-verdict kw-verdict-" + v.tone, "data-kw-verdict": v.tone },
            clip(v.text))),
        h("div", { className: "kw-stats" },
          h(Stat, { label: "CPU", value: percent(w.tree_cpu_percent ?? w.cpu_percent) }),
          h(Stat, { label: "Memory", value: bytes(w.tree_rss_bytes ?? w.rss_bytes) }),
          h(Stat, { label: "Processes", value: w.tree_processes ?? "–" }),
          h(Stat, { label: "Heartbeat", value: ago(w.heartbeat_age_s) }),
          h(Stat, { label: "Wedged", value: w.alive === true ? (w.wedged ? "yes" : "no") : "–" }),
          h(Stat, { label: "Runtime", value: w.runtime_s === null || w.runtime_s === undefined ? "–" : ago(w.runtime_s).replace(" ago", "") })),
        props.open ? h(Detail, { worker: w, detail: props.detail, board: props.board }) : null,
        confirming
          ? h("div", { className: "kw-confirm", role: "alertdialog" },
            h("div", { className: "text-sm" },
              `Terminate run ${clip(w.run_id)}? ` + C.offer(w).confirm),
            h("div", { className: "flex gap-2" },
              h(Button, {
                size: "sm", className: "h-8", disabled: busy, "data-kw-action": "confirm-terminate",
                onClick: function () { props.onTerminate(w); },
              }, busy ? "Terminating…" : (w.terminate_offer === "reclaim" ? "Reclaim" : "Terminate")),
              h(Button, {
                size: "sm", className: "h-8", disabled: busy, "data-kw-action": "cancel",
                onClick: function () { props.onConfirm(null); },
              }, "Cancel")))
          : h("div", { className: "kw-offer flex items-center gap-2 flex-wrap" },
            // What terminate would do, said before the click: the shim's own terminate_offer
            // and terminate_note (one source for this tab and the shim's page).
            h(Button, {
              size: "sm", className: "h-8", "data-kw-action": "terminate",
              disabled: !C.offer(w).enabled,
              title: C.offer(w).note ? clip(C.offer(w).note) : undefined,
              onClick: function () { if (C.offer(w).enabled) props.onConfirm(w.run_id); },
            }, C.offer(w).label),
            C.offer(w).note
              ? h("span", { className: "text-xs text-muted-foreground", "data-kw-offer-note": "" },
                clip(C.offer(w).note))
              : null,
            // Pause and resume: the run's systemd scope frozen whole, where it has one (the
            // shim says so in live_workers.scope); the reason said otherwise.
            h(Button, {
              size: "sm", variant: "outline", className: "h-8",
              "data-kw-action": C.pauseOffer(w).action,
              disabled: !C.pauseOffer(w).enabled || busy,
              title: clip(C.pauseOffer(w).note || C.pauseOffer(w).confirm),
              onClick: function () {
                const p = C.pauseOffer(w);
                if (p.enabled && (p.action === "resume" || window.confirm(`Pause run ${clip(w.run_id)}? ` + p.confirm))) {
                  props.onPause(w, p.action);
                }
              },
            }, C.pauseOffer(w).label),
            C.scopeLine(w)
              ? h("span", { className: "text-xs text-muted-foreground", "data-kw-scope": "" }, C.scopeLine(w))
              : null,
            // Another host's worker: act on it at that host's shim, when the fleet knows it.
            props.elsewhere
              ? h("a", {
                href: props.elsewhere.href, target: "_blank", rel: "noopener noreferrer",
                className: "kw-act-link text-xs", "data-kw-act-elsewhere": "",
              }, props.elsewhere.label)
              : null)));
  }

  // What ended runs left behind (the shim's lingering_workers), a run a row, each process
  // with whether the shim may signal it; Reap… where it may (the confirmation names the pids),
  // disabled with the shim's reason where it may not.
  function LeftBehind(props) {
    const rows = props.rows || [];
    const runs = [];
    const byRun = new Map();
    rows.forEach(function (r) {
      if (!byRun.has(r.run_id)) { byRun.set(r.run_id, []); runs.push(r.run_id); }
      byRun.get(r.run_id).push(r);
    });
    return h(Card, { className: "kw-left", "data-kw-left": "" },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("div", { className: "text-sm font-medium" }, "Left behind"),
        runs.length === 0
          ? h("div", { className: "text-xs text-muted-foreground" },
            "No process outlived its run on this board.")
          : runs.map(function (runId) {
            const procs = byRun.get(runId);
            const first = procs[0];
            const refused = procs.filter(function (p) { return !p.may_signal; });
            const confirming = props.confirming === runId;
            const busy = props.busy === runId;
            return h("div", { key: runId, className: "kw-left-run", "data-kw-left-run": String(runId) },
              h("div", { className: "kw-meta text-xs" },
                `run ${clip(runId)} · ${clip(first.task_title || first.task_id)} · ended ` +
                `${clip(first.outcome || "")} · ${procs.length} process${procs.length === 1 ? "" : "es"}`),
              h("ul", { className: "kw-processes text-xs" }, procs.map(function (p) {
                const argv = Array.isArray(p.cmdline) ? p.cmdline.join(" ") : (p.cmdline || "");
                return h("li", { key: p.pid, "data-kw-left-pid": String(p.pid) },
                  h("span", { className: "kw-mono" }, `pid ${clip(p.pid)}`), " · ",
                  `outlived by ${ago(p.outlived_s).replace(" ago", "")} · ${bytes(p.rss_bytes)} · `,
                  h("span", { className: "kw-mono text-muted-foreground" }, clip(argv)));
              })),
              confirming
                ? h("div", { className: "kw-confirm", role: "alertdialog" },
                  h("div", { className: "text-sm" },
                    `Reap run ${clip(runId)}? ` +
                    `pid ${procs.map(function (p) { return clip(p.pid); }).join(", ")} get SIGTERM, ` +
                    "then SIGKILL after 5 s. Nothing is written to the board."),
                  h("div", { className: "flex gap-2" },
                    h(Button, {
                      size: "sm", className: "h-8", disabled: busy, "data-kw-action": "confirm-reap",
                      onClick: function () { props.onReap(runId); },
                    }, busy ? "Reaping…" : "Reap"),
                    h(Button, {
                      size: "sm", className: "h-8", disabled: busy, "data-kw-action": "cancel",
                      onClick: function () { props.onConfirm(null); },
                    }, "Cancel")))
                : h("div", { className: "flex items-center gap-2 flex-wrap" },
                  h(Button, {
                    size: "sm", className: "h-8", "data-kw-action": "reap",
                    disabled: refused.length > 0,
                    onClick: function () { if (refused.length === 0) props.onConfirm(runId); },
                  }, "Reap…"),
                  refused.length > 0
                    ? h("span", { className: "text-xs text-muted-foreground", "data-kw-offer-note": "" },
                      `not reaped from here: pid ${clip(refused[0].pid)}: ${clip(refused[0].refusal)}`)
                    : null));
          })));
  }

  // Every host's workers, when the dashboard's environment names a Prometheus
  // ($KANBAN_WORKERS_PROMETHEUS; docs/fleet.md): grouped by host, this one first, stale data
  // marked with its age; another host's worker is acted on at that host's own shim (a link),
  // never from here. Not shown without a Prometheus.
  function Fleet(props) {
    const f = props.fleet;
    if (!f || (f.ok && f.answer.prometheus === null)) return null;
    const hosts = f.ok ? C.fleetHosts(f.answer, props.board ? "board=" + encodeURIComponent(props.board) : "") : [];
    return h(Card, { className: "kw-fleet", "data-kw-fleet": "" },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("div", { className: "flex items-center gap-2 flex-wrap" },
          h("div", { className: "text-sm font-medium" }, "Fleet"),
          h("div", { className: "text-xs text-muted-foreground", "data-kw-fleet-status": "" },
            f.ok
              ? `${hosts.length} host${hosts.length === 1 ? "" : "s"} · from ${clip(f.answer.prometheus)}`
              : "unavailable: " + clip(f.detail))),
        hosts.map(function (host) {
          return h("div", {
            key: host.key, className: cn("kw-fleet-host", host.stale && "kw-stale"),
            "data-kw-fleet-host": host.host, "data-kw-fleet-target": host.key,
          },
            h("div", { className: "flex items-center gap-2 flex-wrap" },
              h(Badge, { variant: host.up ? (host.stale ? "secondary" : "default") : "destructive" },
                host.up ? (host.stale ? "stale" : "up") : "unreachable"),
              host.conflict
                ? h(Badge, { variant: "destructive", "data-kw-fleet-conflict": "" }, "name claimed twice")
                : null,
              h("span", { className: "text-sm" }, host.title)),
            h("ul", { className: "kw-processes text-xs" }, host.workers.map(function (w) {
              return h("li", { key: String(w.run_id) },
                h("span", { className: "kw-mono" }, w.line),
                host.act
                  ? h("a", {
                    href: host.act.href, target: "_blank", rel: "noopener noreferrer",
                    className: "kw-act-link", "data-kw-fleet-act": host.host,
                  }, " " + host.act.label)
                  : null);
            })));
        })));
  }

  function WorkersPage() {
    const [board, setBoard] = useState(function () { return readSelectedBoard(); });
    const [boardList, setBoardList] = useState([]);
    const [data, setData] = useState(null);
    const [error, setError] = useState(null);
    const [updated, setUpdated] = useState(null);
    const [confirming, setConfirming] = useState(null);
    const [busy, setBusy] = useState(null);
    const [outcomes, setOutcomes] = useState([]);
    const [left, setLeft] = useState([]);
    const [open, setOpen] = useState(null);
    const [detail, setDetail] = useState({});
    const openRef = useRef(open);
    openRef.current = open;
    const [reapConfirming, setReapConfirming] = useState(null);
    const [reaping, setReaping] = useState(null);
    const [fleet, setFleet] = useState(null);
    const boardRef = useRef(board);
    boardRef.current = board;

    // The boards, from the kanban tab's own backend (the owner's list).
    useEffect(function () {
      SDK.fetchJSON(KANBAN_API + "/boards")
        .then(function (res) {
          setBoardList((res && res.boards) || []);
          if (!boardRef.current && res && res.current) setBoard(res.current);
        })
        .catch(function () { /* the switcher is optional */ });
    }, []);

    const loadDetail = useCallback(function (runId) {
      if (runId === null) return;
      const asked = board;
      const run = encodeURIComponent(runId);
      Promise.all([
        SDK.fetchJSON(withBoard(`${API}/runs/${run}/processes`, asked)),
        SDK.fetchJSON(withBoard(`${API}/runs/${run}/history`, asked)),
      ])
        .then(function (both) {
          if (boardRef.current !== asked || openRef.current !== runId) return;
          setDetail({ run_id: runId, processes: both[0], history: both[1] });
        })
        .catch(function (e) {
          if (openRef.current === runId) setDetail({ run_id: runId, error: apiError(e).detail });
        });
    }, [board]);

    useEffect(function () { setDetail({}); loadDetail(open); }, [open, loadDetail]);

    const load = useCallback(function () {
      const asked = board;
      loadDetail(openRef.current);
      SDK.fetchJSON(withBoard(API + "/lingering", asked))
        .then(function (res) {
          if (boardRef.current === asked) setLeft((res && res.lingering) || []);
        })
        .catch(function () { /* shown with the workers' error */ });
      SDK.fetchJSON(withBoard(API + "/fleet", asked))
        .then(function (res) {
          if (boardRef.current === asked) setFleet({ ok: true, answer: res || {} });
        })
        .catch(function (e) {
          if (boardRef.current === asked) setFleet({ ok: false, detail: apiError(e).detail });
        });
      return SDK.fetchJSON(withBoard(API + "/workers", asked))
        .then(function (res) {
          if (boardRef.current !== asked) return;
          setData(res); setError(null); setUpdated(new Date());
        })
        .catch(function (e) {
          if (boardRef.current !== asked) return;
          setError(apiError(e).detail);
        });
    }, [board, loadDetail]);

    useEffect(function () {
      load();
      const timer = setInterval(load, REFRESH_MS);
      return function () { clearInterval(timer); };
    }, [load]);

    const switchBoard = useCallback(function (slug) {
      if (!slug || slug === board) return;
      setData(null); setError(null); setConfirming(null); setOpen(null);
      setBoard(slug);
      writeSelectedBoard(slug);
    }, [board]);

    const terminate = useCallback(function (w) {
      setBusy(w.run_id);
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(w.run_id)}/terminate`, board), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "terminated from the dashboard's Workers tab" }),
      })
        .then(function (res) {
          return { run_id: w.run_id, task_id: res.task_id, ok: true, worker: res.worker,
            evidence: res.evidence, processes: res.processes || [] };
        })
        .catch(function (e) {
          const err = apiError(e);
          return { run_id: w.run_id, task_id: w.task_id, ok: false, detail: err.detail,
            processes: err.processes || [] };
        })
        .then(function (outcome) {
          setOutcomes(function (list) {
            return [outcome].concat(list.filter(function (o) { return o.run_id !== w.run_id; }));
          });
          setBusy(null); setConfirming(null);
          load();
        });
    }, [board, load]);

    const pause = useCallback(function (w, action) {
      setBusy(w.run_id);
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(w.run_id)}/${action}`, board), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      })
        .then(function (res) {
          return { run_id: w.run_id, task_id: w.task_id, ok: res.ok === true, pause: true,
            detail: (res.frozen ? "paused" : "resumed") + ` (scope ${res.scope})` +
              (res.frozen ? ": " + res.note : ""), processes: [] };
        })
        .catch(function (e) {
          const err = apiError(e);
          return { run_id: w.run_id, task_id: w.task_id, ok: false, pause: true,
            detail: err.detail, processes: [] };
        })
        .then(function (outcome) {
          setOutcomes(function (list) {
            return [outcome].concat(list.filter(function (o) { return o.run_id !== w.run_id; }));
          });
          setBusy(null);
          load();
        });
    }, [board, load]);

    const reap = useCallback(function (runId) {
      setReaping(runId);
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(runId)}/reap`, board), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      })
        .then(function (res) {
          return { run_id: runId, task_id: res.task_id, ok: true, reap: true, processes: res.processes || [] };
        })
        .catch(function (e) {
          const err = apiError(e);
          return { run_id: runId, ok: false, reap: true, detail: err.detail, processes: err.processes || [] };
        })
        .then(function (outcome) {
          setOutcomes(function (list) {
            return [outcome].concat(list.filter(function (o) { return o.run_id !== runId; }));
          });
          setReaping(null); setReapConfirming(null);
          load();
        });
    }, [board, load]);

    const workers = (data && data.workers) || [];
    // The fleet's hosts, for the link on another host's worker.
    const fleetLinks = fleet && fleet.ok
      ? C.fleetHosts(fleet.answer, board ? "board=" + encodeURIComponent(board) : "")
      : [];
    const selectProps = {
      value: board || "default",
      className: "h-8 min-w-[200px]",
      "aria-label": "Switch kanban board",
      // The SDK's Select calls onValueChange; a native one, onChange.
      onValueChange: function (v) { switchBoard(v); },
      onChange: function (e) { if (e && e.target) switchBoard(e.target.value); },
    };

    return h("div", { className: "kw-page flex flex-col gap-4", "data-kw-root": "" },
      h("div", { className: "kw-header" },
        h("div", { className: "flex flex-col gap-0.5" },
          h("div", { className: "text-[11px] tracking-wider text-muted-foreground" }, "Board"),
          boardList.length > 0
            ? h(Select, selectProps, boardList.map(function (b) {
              return h(SelectOption, { key: b.slug, value: b.slug }, clip(b.name || b.slug));
            }))
            : h("div", { className: "text-sm" }, clip(board || "default"))),
        h("div", { className: "flex-1" }),
        h("div", { className: "kw-status text-xs text-muted-foreground", "data-kw-status": "" },
          data
            ? `${workers.length} worker${workers.length === 1 ? "" : "s"} · updated ${updated ? updated.toLocaleTimeString() : ""}`
            : (error ? "" : "Loading workers…"))),
      error
        ? h(Card, { className: "kw-error" },
          h(CardContent, { className: "p-4 text-sm", role: "alert", "data-kw-error": "" },
            "The board's workers are unavailable: " + clip(error) + " (retrying)"))
        : null,
      outcomes.map(function (o) {
        return h(Outcome, {
          key: o.run_id, outcome: o,
          onDismiss: function () {
            setOutcomes(function (list) { return list.filter(function (x) { return x.run_id !== o.run_id; }); });
          },
        });
      }),
      data && workers.length === 0
        ? h(Card, null, h(CardContent, { className: "p-6 text-sm text-muted-foreground" },
          "No worker is running on this board."))
        : null,
      h("div", { className: "kw-grid" }, workers.map(function (w) {
        return h(WorkerCard, {
          key: w.run_id, worker: w,
          confirming: confirming === w.run_id,
          busy: busy === w.run_id,
          open: open === w.run_id,
          board: board,
          detail: detail.run_id === w.run_id ? detail : null,
          elsewhere: C.actOn(w, fleetLinks),
          onOpen: setOpen,
          onConfirm: setConfirming,
          onTerminate: terminate,
          onPause: pause,
        });
      })),
      h(LeftBehind, {
        rows: left, confirming: reapConfirming, busy: reaping,
        onConfirm: setReapConfirming, onReap: reap,
      }),
      h(Fleet, { fleet: fleet, board: board }));
  }

  if (window.__HERMES_PLUGINS__ && typeof window.__HERMES_PLUGINS__.register === "function") {
    window.__HERMES_PLUGINS__.register("kanban-workers", WorkersPage);
  }
})();

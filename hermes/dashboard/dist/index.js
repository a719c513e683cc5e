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
  // Every board of the root at once (the shim's ?board=*): each worker with its `board`, acted
  // on with its own board.
  const ALL_BOARDS = "*";
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
      // "*" (every board) is this tab's alone: the kanban tab's routes refuse it.
      if (slug && slug !== ALL_BOARDS) window.localStorage.setItem(LS_BOARD_KEY, slug);
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
          : o.stop
          ? (o.ok ? `Run ${clip(o.run_id)} stopped: task ${clip(o.task_id)} ${clip(o.task_status)} (not claimed again)`
            : `Run ${clip(o.run_id)} not stopped: ${clip(o.detail)}`)
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
            p.member === "escaped" ? `escaped (${clip(p.evidence || "")}) · `
              : p.evidence ? `(${clip(p.evidence)}) · ` : "",
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
      "data-kw-board": typeof w.board === "string" ? clip(w.board) : undefined,
    },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("button", {
          type: "button", className: "kw-title text-left", "data-kw-action": "details",
          "aria-expanded": props.open ? "true" : "false",
          onClick: function () { props.onOpen(props.open ? null : C.runKey(w)); },
        }, clip(w.task_title || w.task_id)),
        h("div", { className: "kw-meta text-xs text-muted-foreground" },
          (typeof w.board === "string" ? `board ${clip(w.board)} · ` : "") +
          `run ${clip(w.run_id)} · ${clip(w.task_id)} · ${clip(w.task_assignee || "–")} · ` +
          `${clip(w.worker_host || "local")} · pid ${clip(w.worker_pid)}`),
        h("div", null,
          h(Badge, { variant: "outline", className: "kw-verdict kw-verdict-" + v.tone, "data-kw-verdict": v.tone },
            clip(v.text))),
        // Its claimer, the dispatcher, gone (the shim's claimer_alive and claimer_note).
        C.claimerLine(w)
          ? h("div", { className: "text-xs kw-claimer", role: "note", "data-kw-claimer": "gone" }, C.claimerLine(w))
          : null,
        h("div", { className: "kw-stats" },
          h(Stat, { label: "CPU", value: percent(w.tree_cpu_percent ?? w.cpu_percent) }),
          h(Stat, { label: "Memory", value: bytes(w.tree_rss_bytes ?? w.rss_bytes) }),
          h(Stat, { label: "Processes", value: w.tree_processes ?? "–" }),
          h(Stat, { label: "Heartbeat", value: ago(w.heartbeat_age_s) }),
          h(Stat, { label: "Wedged", value: w.alive === true ? (w.wedged ? "yes" : "no") : "–" }),
          h(Stat, { label: "Runtime", value: w.runtime_s === null || w.runtime_s === undefined ? "–" : ago(w.runtime_s).replace(" ago", "") })),
        props.open ? h(Detail, { worker: w, detail: props.detail, board: w.board ?? props.board }) : null,
        // Stop, confirmed: the task blocked as the owner blocks it, then the processes ended.
        props.stopConfirming
          ? h("div", { className: "kw-confirm", role: "alertdialog", "data-kw-confirm": "stop" },
            h("div", { className: "text-sm" }, `Stop run ${clip(w.run_id)}? ` + C.stopOffer(w).confirm),
            h("div", { className: "flex gap-2" },
              h(Button, {
                size: "sm", className: "h-8", disabled: busy, "data-kw-action": "confirm-stop",
                onClick: function () { props.onStop(w); },
              }, busy ? "Stopping…" : "Stop"),
              h(Button, {
                size: "sm", className: "h-8", disabled: busy, "data-kw-action": "cancel-stop",
                onClick: function () { props.onStopConfirm(null); },
              }, "Cancel")))
          : null,
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
              onClick: function () { if (C.offer(w).enabled) props.onConfirm(C.runKey(w)); },
            }, C.offer(w).label),
            C.offer(w).note
              ? h("span", { className: "text-xs text-muted-foreground", "data-kw-offer-note": "" },
                clip(C.offer(w).note))
              : null,
            // Stop, beside terminate: the task blocked (not claimed again), not reclaimed.
            h(Button, {
              size: "sm", variant: "outline", className: "h-8", "data-kw-action": "stop",
              disabled: !C.stopOffer(w).enabled || busy,
              title: clip(C.stopOffer(w).effect),
              onClick: function () { if (C.stopOffer(w).enabled) props.onStopConfirm(C.runKey(w)); },
            }, C.stopOffer(w).label),
            h("span", { className: "text-xs text-muted-foreground", "data-kw-effects": "" },
              `${C.TERMINATE_EFFECT} · ${C.STOP_EFFECT}`),
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

  // At the top: the runs the board has ended (crashed, stale, timed out, reclaimed) whose
  // worker, proven the run's, still runs (the shim's lingering_workers.ended_but_alive): each
  // with what the board says, its processes and their evidence, and Reap… behind a
  // confirmation (disabled with the shim's reason where it may not). Nothing when none.
  function EndedButAlive(props) {
    const runs = C.endedButAlive(props.rows);
    if (runs.length === 0) return null;
    return h(Card, { className: "kw-undead", "data-kw-undead": "" },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("div", { className: "text-sm font-medium" },
          `Ended by the board, still running: ${runs.length} run${runs.length === 1 ? "" : "s"} ` +
          "whose worker the board calls dead (a duplicate worker in the making)"),
        runs.map(function (run) {
          const confirming = props.confirming === run.key;
          const busy = props.busy === run.key;
          return h("div", { key: run.key, className: "kw-left-run", "data-kw-undead-run": String(run.run_id) },
            h("div", { className: "kw-meta text-xs" }, run.title + " · " + run.line),
            h("ul", { className: "kw-processes text-xs" }, run.processes.map(function (line, i) {
              return h("li", { key: i, "data-kw-undead-pid": String(run.pids[i]) }, line);
            })),
            confirming
              ? h("div", { className: "kw-confirm", role: "alertdialog" },
                h("div", { className: "text-sm" },
                  `Reap run ${clip(run.run_id)}? pid ${run.pids.join(", ")} get SIGTERM, then ` +
                  "SIGKILL after 5 s."),
                h("div", { className: "flex gap-2" },
                  h(Button, {
                    size: "sm", className: "h-8", disabled: busy, "data-kw-action": "confirm-reap",
                    onClick: function () { props.onReap(run); },
                  }, busy ? "Reaping…" : "Reap"),
                  h(Button, {
                    size: "sm", className: "h-8", disabled: busy, "data-kw-action": "cancel",
                    onClick: function () { props.onConfirm(null); },
                  }, "Cancel")))
              : h("div", { className: "flex items-center gap-2 flex-wrap" },
                h(Button, {
                  size: "sm", className: "h-8", "data-kw-action": "reap", disabled: !run.may_reap,
                  onClick: function () { if (run.may_reap) props.onConfirm(run.key); },
                }, "Reap…"),
                run.may_reap ? null : h("span", { className: "text-xs text-muted-foreground" },
                  "not reaped from here: " + run.refusal)));
        })));
  }

  // What ended runs left behind (the shim's lingering_workers), a run a row, each process
  // with whether the shim may signal it; Reap… where it may (the confirmation names the pids),
  // disabled with the shim's reason where it may not.
  function LeftBehind(props) {
    const rows = props.rows || [];
    const runs = [];
    const byRun = new Map();
    rows.forEach(function (r) {
      const key = C.runKey(r);
      if (!byRun.has(key)) { byRun.set(key, []); runs.push(key); }
      byRun.get(key).push(r);
    });
    return h(Card, { className: "kw-left", "data-kw-left": "" },
      h(CardContent, { className: "p-4 flex flex-col gap-2" },
        h("div", { className: "text-sm font-medium" }, "Left behind"),
        runs.length === 0
          ? h("div", { className: "text-xs text-muted-foreground" },
            "No process outlived its run on this board.")
          : runs.map(function (key) {
            const procs = byRun.get(key);
            const first = procs[0];
            const runId = first.run_id;
            const refused = procs.filter(function (p) { return !p.may_signal; });
            const confirming = props.confirming === key;
            const busy = props.busy === key;
            return h("div", { key: key, className: "kw-left-run", "data-kw-left-run": String(runId) },
              h("div", { className: "kw-meta text-xs" },
                (typeof first.board === "string" ? `board ${clip(first.board)} · ` : "") +
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
                      onClick: function () { props.onReap(first); },
                    }, busy ? "Reaping…" : "Reap"),
                    h(Button, {
                      size: "sm", className: "h-8", disabled: busy, "data-kw-action": "cancel",
                      onClick: function () { props.onConfirm(null); },
                    }, "Cancel")))
                : h("div", { className: "flex items-center gap-2 flex-wrap" },
                  h(Button, {
                    size: "sm", className: "h-8", "data-kw-action": "reap",
                    disabled: refused.length > 0,
                    onClick: function () { if (refused.length === 0) props.onConfirm(key); },
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
  // How runs ended, the last 6 hours (the shim's /runs/endings, in its words): a strip, most
  // first; every board's summed in the All boards view (issue 39 §4).
  function Endings(props) {
    const e = props.endings;
    if (!e) return null;
    const total = e.ok ? e.strip.reduce(function (n, x) { return n + x.count; }, 0) : 0;
    return h("div", { className: "kw-endings flex flex-wrap items-center gap-2 text-xs", "data-kw-endings": "" },
      h("span", { className: "text-muted-foreground", "data-kw-endings-status": "" },
        "How runs ended, the last 6 hours: " + (e.ok
          ? (total === 0 ? "no run ended" : `${total} run${total === 1 ? "" : "s"} ended`)
          : "unavailable: " + clip(e.detail))),
      e.ok ? e.strip.map(function (x) {
        return h(Badge, {
          key: x.ending, "data-kw-ending": x.ending, title: x.words,
          variant: x.tone === "bad" ? "destructive" : (x.tone === "warn" ? "secondary" : "outline"),
        }, `${x.label} · latest: ${x.words}`);
      }) : null);
  }

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
    const [stopConfirming, setStopConfirming] = useState(null);
    const [deadConfirming, setDeadConfirming] = useState(null);
    const [fleet, setFleet] = useState(null);
    const [endings, setEndings] = useState(null);
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

    const loadDetail = useCallback(function (key) {
      if (key === null) return;
      const asked = board;
      // Every board's view: the run's own board (its key is "<board>/<run>").
      const at = typeof key === "string" ? key.indexOf("/") : -1;
      const runBoard = at >= 0 ? key.slice(0, at) : asked;
      const run = encodeURIComponent(at >= 0 ? key.slice(at + 1) : key);
      Promise.all([
        SDK.fetchJSON(withBoard(`${API}/runs/${run}/processes`, runBoard)),
        SDK.fetchJSON(withBoard(`${API}/runs/${run}/history`, runBoard)),
      ])
        .then(function (both) {
          if (boardRef.current !== asked || openRef.current !== key) return;
          setDetail({ key: key, processes: both[0], history: both[1] });
        })
        .catch(function (e) {
          if (openRef.current === key) setDetail({ key: key, error: apiError(e).detail });
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
      if (asked === ALL_BOARDS) setFleet(null);
      else SDK.fetchJSON(withBoard(API + "/fleet", asked))
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

    // How runs ended: every 10 s, of the board (of each board read, in the All boards view).
    const endingsBoards = board === ALL_BOARDS
      ? ((data && data.boards) || []).filter(function (b) { return b.status === undefined; })
        .map(function (b) { return b.board; }).join(",")
      : board;
    useEffect(function () {
      const asked = board;
      const list = asked === ALL_BOARDS ? (endingsBoards ? endingsBoards.split(",") : []) : [asked];
      const fetchAll = function () {
        Promise.all(list.map(function (b) { return SDK.fetchJSON(withBoard(API + "/runs/endings", b)); }))
          .then(function (answers) {
            if (boardRef.current === asked) setEndings({ ok: true, strip: C.endingsStrip(answers) });
          })
          .catch(function (e) {
            if (boardRef.current === asked) setEndings({ ok: false, detail: apiError(e).detail });
          });
      };
      fetchAll();
      const timer = setInterval(fetchAll, 10000);
      return function () { clearInterval(timer); };
    }, [board, endingsBoards]);

    const switchBoard = useCallback(function (slug) {
      if (!slug || slug === board) return;
      setData(null); setError(null); setConfirming(null); setOpen(null);
      setBoard(slug);
      writeSelectedBoard(slug);
    }, [board]);

    const terminate = useCallback(function (w) {
      setBusy(C.runKey(w));
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(w.run_id)}/terminate`, w.board ?? board), {
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

    const stop = useCallback(function (w) {
      setBusy(C.runKey(w));
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(w.run_id)}/stop`, w.board ?? board), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "stopped from the dashboard's Workers tab" }),
      })
        .then(function (res) {
          return { run_id: w.run_id, task_id: res.task_id, ok: true, stop: true,
            task_status: res.task_status, worker: res.worker, evidence: res.evidence,
            processes: res.processes || [] };
        })
        .catch(function (e) {
          const err = apiError(e);
          return { run_id: w.run_id, task_id: w.task_id, ok: false, stop: true, detail: err.detail,
            processes: err.processes || [] };
        })
        .then(function (outcome) {
          setOutcomes(function (list) {
            return [outcome].concat(list.filter(function (o) { return o.run_id !== w.run_id; }));
          });
          setBusy(null); setStopConfirming(null);
          load();
        });
    }, [board, load]);

    const pause = useCallback(function (w, action) {
      setBusy(C.runKey(w));
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(w.run_id)}/${action}`, w.board ?? board), {
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

    const reap = useCallback(function (row) {
      const runId = row.run_id;
      setReaping(C.runKey(row));
      SDK.fetchJSON(withBoard(`${API}/runs/${encodeURIComponent(runId)}/reap`, row.board ?? board), {
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
            ? h(Select, selectProps, [h(SelectOption, { key: ALL_BOARDS, value: ALL_BOARDS }, "All boards")]
              .concat(boardList.map(function (b) {
                return h(SelectOption, { key: b.slug, value: b.slug }, clip(b.name || b.slug));
              })))
            : h("div", { className: "text-sm" }, clip(board || "default"))),
        h("div", { className: "flex-1" }),
        h("div", { className: "kw-status text-xs text-muted-foreground", "data-kw-status": "" },
          data
            ? `${workers.length} worker${workers.length === 1 ? "" : "s"} · updated ${updated ? updated.toLocaleTimeString() : ""}` +
              (C.boardsLine(data) ? " · " + C.boardsLine(data) : "") +
              (C.dispatch(workers).line ? " · " + C.dispatch(workers).line : "")
            : (error ? "" : "Loading workers…"))),
      error
        ? h(Card, { className: "kw-error" },
          h(CardContent, { className: "p-4 text-sm", role: "alert", "data-kw-error": "" },
            "The board's workers are unavailable: " + clip(error) + " (retrying)"))
        : null,
      // Is anyone dispatching this board? The dispatchers that claimed running workers and
      // are gone (the shim's claimer_alive), each with its workers.
      C.dispatch(workers).gone.length
        ? h(Card, { className: "kw-error", "data-kw-claimers": "" },
          h(CardContent, { className: "p-4 text-sm flex flex-col gap-1", role: "alert" },
            h("strong", null, "No one dispatches these workers."),
            C.dispatch(workers).gone.map(function (g) {
              return h("div", { key: (g.board || "") + " " + g.claim_lock, className: "text-xs" }, g.line);
            })))
        : null,
      h(Endings, { endings: endings }),
      h(EndedButAlive, {
        rows: left, confirming: deadConfirming, busy: reaping,
        onConfirm: setDeadConfirming, onReap: reap,
      }),
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
        const key = C.runKey(w);
        return h(WorkerCard, {
          key: key, worker: w,
          confirming: confirming === key,
          busy: busy === key,
          open: open === key,
          board: board,
          detail: detail.key === key ? detail : null,
          elsewhere: C.actOn(w, fleetLinks),
          onOpen: setOpen,
          onConfirm: setConfirming,
          onTerminate: terminate,
          onPause: pause,
          stopConfirming: stopConfirming === key,
          onStopConfirm: setStopConfirming,
          onStop: stop,
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

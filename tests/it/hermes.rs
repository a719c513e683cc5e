#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Workers tab inside the real Hermes dashboard (hermes-agent 0.19.0 from PyPI, in
//! target/hermes-venv, made by `make test` with the `python3` on PATH, whose SQLite cannot load
//! extensions): the plugin installed by `kanban-workers hermes install` and enabled by the
//! owner's `hermes plugins enable`, a board made with the owner's own functions
//! (tests/fixtures/hermes_board.py) with a live worker and a dead one, and headless chromium
//! driven over the DevTools protocol (a pipe, no extra dependency): the rendered cards, a
//! terminate clicked in the tab with its confirmation, and the board reclaimed. Both gates
//! are checked: the dashboard's session on the plugin's routes, the shim's token on the hop.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

const SESSION: &str = "dashboard-session-token-for-the-test";

/// The venv `make test` prepares (or $KANBAN_WORKERS_HERMES_VENV).
fn venv() -> PathBuf {
    std::env::var_os("KANBAN_WORKERS_HERMES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/hermes-venv"))
}

/// A child killed (and reaped) when the test ends, however it ends.
fn wait_line(lines: &mpsc::Receiver<String>, marker: &str, secs: u64, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(marker) => return line,
            Ok(_) => {}
            Err(e) => panic!("{what}: no line with {marker:?} ({e})"),
        }
    }
}

/// The processes whose parent is `pid`, and theirs.
fn descendants(pid: i64) -> Vec<i64> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: i64 = after.split(' ').nth(1).unwrap().parse().unwrap();
        parent_of.push((p, ppid));
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let at = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == at)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn cmdline(pid: i64) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The loopback port `pid` listens on (its listening socket's inode in /proc/net/tcp).
fn listening_port(pid: i64) -> u16 {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")
                .map(|s| s.trim_end_matches(']').to_owned())
        })
        .collect();
    let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
    for line in tcp.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
            let port = f[1].rsplit(':').next().unwrap();
            return u16::from_str_radix(port, 16).unwrap();
        }
    }
    panic!("{pid} listens on no TCP port");
}

fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(addr, "GET", path, headers)
}

fn http_post(addr: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n{}");
    http_raw(addr, head.as_bytes())
}

#[test]
#[ignore = "needs hermes-agent 0.19.0 in target/hermes-venv, chromium and prometheus: `make test` installs the first (PyPI) and runs it where all exist"]
fn the_workers_tab_in_the_real_hermes_dashboard() {
    let venv = venv();
    let python = venv.join("bin/python");
    let hermes = venv.join("bin/hermes");
    assert!(
        hermes.is_file(),
        "no {} (make test installs it)",
        hermes.display()
    );
    assert!(Path::new(CHROMIUM).is_file(), "this test needs {CHROMIUM}");
    // The dashboard's Python cannot load extensions: the plugin must not need to.
    let probe = run_ok(Command::new(&python).args([
        "-c",
        "import sqlite3; print(hasattr(sqlite3.Connection, 'enable_load_extension'))",
    ]));
    assert_eq!(
        probe.trim(),
        "False",
        "{} can load SQLite extensions: make the venv with a python3 that cannot (pyenv's)",
        python.display()
    );

    let home = temp_dir("hermes-home");
    let home = home.path();
    let env = |cmd: &mut Command| {
        cmd.env("HERMES_HOME", home)
            .env_remove("HERMES_KANBAN_HOME")
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD")
            .env_remove("KANBAN_WORKERS_BIN");
    };

    // Installed by our command, enabled by the owner's.
    let said = run_ok(
        Command::new(shim_bin())
            .args(["hermes", "install", "--hermes-home"])
            .arg(home),
    );
    assert!(
        said.contains("hermes plugins enable kanban-workers"),
        "{said}"
    );
    let plugin = home.join("plugins/kanban-workers");
    assert!(plugin.join("dashboard/plugin_api.py").is_file());
    let mut enable = Command::new(&hermes);
    env(&mut enable);
    run_ok(
        enable
            .args(["plugins", "enable", "kanban-workers"])
            .stdin(Stdio::null()),
    );

    // The board, made by the owner's functions, with its dispatcher alive as the workers'
    // parent until its stdin closes.
    let mut fixture = Command::new(&python);
    env(&mut fixture);
    let mut dispatcher = Killed(
        fixture
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/hermes_board.py"))
            .arg("ops")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the board fixture"),
    );
    let mut line = String::new();
    BufReader::new(dispatcher.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let made: serde_json::Value = serde_json::from_str(&line).expect("the fixture's JSON");
    let board = PathBuf::from(made["board"].as_str().unwrap());
    let (live_run, live_task) = (
        made["live"]["run"].as_i64().unwrap(),
        made["live"]["task"].as_str().unwrap().to_owned(),
    );
    let live_pid = made["live"]["pid"].as_i64().unwrap();
    let dead_run = made["dead"]["run"].as_i64().unwrap();
    let window_run = made["window"]["run"].as_i64().unwrap();
    let (left_run, left_pid) = (
        made["left"]["run"].as_i64().unwrap(),
        made["left"]["pid"].as_i64().unwrap(),
    );

    // Another host, for the fleet: a kanban root of its own whose `ops` board has one run,
    // claimed by `gpu-box-7`, which its shim says it is; a real Prometheus scrapes that shim,
    // and the dashboard's environment names Prometheus (KANBAN_WORKERS_PROMETHEUS).
    let far_root = temp_dir("hermes-far-host");
    let far_folder = far_root.path().join("kanban/boards/ops");
    std::fs::create_dir_all(&far_folder).unwrap();
    let far_worker = Worker::sleep();
    let far_run = insert_run(
        &create_board(&far_folder.join("kanban.db")),
        &RunSpec::new("t_far")
            .pid(far_worker.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    let mut far = Command::new(shim_bin());
    far.env("HERMES_KANBAN_HOME", far_root.path())
        .env("HERMES_KANBAN_BOARD", "ops")
        .env_remove("HERMES_KANBAN_DB")
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .args(["--hostname", "gpu-box-7"]);
    let far_shim = Server::spawn(far, "serving board");
    let prometheus = Prometheus::scraping(&[&far_shim.addr]);

    // The dashboard, on a port of its choosing.
    let log = home.join("dashboard.log");
    let mut dash = Command::new(&hermes);
    env(&mut dash);
    let mut dash = Killed(
        dash.args(["dashboard", "--no-open", "--port", "0"])
            .env("HERMES_DASHBOARD_SESSION_TOKEN", SESSION)
            .env("KANBAN_WORKERS_PROMETHEUS", &prometheus.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("hermes dashboard"),
    );
    let dash_pid = i64::from(dash.0.id());
    let (tx, lines) = mpsc::channel();
    let out = dash.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let ready = wait_line(&lines, "HERMES_DASHBOARD_READY port=", 180, "the dashboard");
    let port = ready.rsplit('=').next().unwrap().trim();
    let dash_addr = format!("127.0.0.1:{port}");
    let session = [("X-Hermes-Session-Token", SESSION)];
    let workers_path = "/api/plugins/kanban-workers/workers?board=ops";

    // The dashboard's gate before the plugin's routes.
    assert_eq!(http_get(&dash_addr, workers_path, &[]).status, 401);
    let r = http_get(&dash_addr, workers_path, &session);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    let by_run = |id: i64| {
        body["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["run_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no run {id}: {body}"))
    };
    let live = by_run(live_run);
    assert_eq!(
        (live["alive"].clone(), live["identity"].clone()),
        (true.into(), "spawn marks".into()),
        "{live}"
    );
    assert_eq!(by_run(dead_run)["reason"], "process not found");
    // What terminate would do, before the click, from the shim.
    assert_eq!(live["terminate_offer"], "terminate", "{live}");
    let dead_row = by_run(dead_run);
    assert_eq!(dead_row["terminate_offer"], "reclaim", "{dead_row}");
    let window_row = by_run(window_run);
    assert_eq!(
        (
            window_row["identity"].clone(),
            window_row["terminate_offer"].clone()
        ),
        ("started with the run".into(), serde_json::Value::Null),
        "{window_row}"
    );
    // What the ended run left behind, through the plugin.
    let r = http_get(
        &dash_addr,
        "/api/plugins/kanban-workers/lingering?board=ops",
        &session,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let left = r.json();
    assert!(
        left["lingering"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == left_pid && p["run_id"] == left_run && p["may_signal"] == true),
        "{left}"
    );
    let terminate = format!("/api/plugins/kanban-workers/runs/{live_run}/terminate?board=ops");
    assert_eq!(http_post(&dash_addr, &terminate, &[]).status, 401);

    // The shim the plugin started: the dashboard's child, on loopback, behind its own token.
    let shim = descendants(dash_pid)
        .into_iter()
        .find(|p| cmdline(*p).first().map(String::as_str) == Some(shim_bin()))
        .expect("the plugin's shim, a child of the dashboard");
    let argv = cmdline(shim);
    assert!(argv.iter().any(|a| a == "--auth-reads"), "{argv:?}");
    let token_file =
        PathBuf::from(&argv[argv.iter().position(|a| a == "--token-file").unwrap() + 1]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(token_file.parent().unwrap()), 0o700);
    let shim_addr = format!("127.0.0.1:{}", listening_port(shim));
    assert_eq!(
        http_get(&shim_addr, "/workers/active?board=ops", &[]).status,
        401
    );
    let wrong = [("Authorization", "Bearer not-the-token")];
    assert_eq!(
        http_post(
            &shim_addr,
            &format!("/runs/{live_run}/terminate?board=ops"),
            &wrong
        )
        .status,
        401
    );
    // The dashboard's session is not the shim's token.
    assert_eq!(
        http_get(&shim_addr, "/workers/active?board=ops", &session).status,
        401
    );

    // The tab, in a real browser.
    let profile = temp_dir("hermes-chromium");
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{dash_addr}/workers?board=ops"));
    let live_card = format!("[data-kw-run=\"{live_run}\"]");
    let text = browser.text_when(
        &live_card,
        |t| t.contains("alive · spawn marks"),
        "the live card",
    );
    assert!(
        text.contains("Summarise the nightly test failures"),
        "{text}"
    );
    for stat in [
        "CPU",
        "Memory",
        "Processes",
        "Heartbeat",
        "Wedged",
        &format!("pid {live_pid}"),
    ] {
        assert!(text.contains(stat), "{stat} not in {text}");
    }
    let dead = browser.text_when(
        &format!("[data-kw-run=\"{dead_run}\"]"),
        |t| t.contains("process not found"),
        "the dead card",
    );
    assert!(dead.contains("Refactor the billing module"), "{dead}");
    // Each card says before the click what terminate would do: the dead one reclaims only, the
    // one whose identity rests on the spawn window cannot be terminated from here.
    assert!(
        dead.contains("Reclaim…") && dead.contains("terminate reclaims only"),
        "{dead}"
    );
    let window_card = format!("[data-kw-run=\"{window_run}\"]");
    let window = browser.text_when(
        &window_card,
        |t| t.contains("identity rests on the spawn window"),
        "the spawn-window card's reason",
    );
    assert!(window.contains("Translate the release notes"), "{window}");
    let disabled = browser.eval(&format!(
        "document.querySelector('{}').disabled",
        format!("{window_card} [data-kw-action=\"terminate\"]").replace('\'', "\\'")
    ));
    assert_eq!(disabled, serde_json::Value::Bool(true), "{window}");
    // The live worker's detail, opened from its card with the keyboard's button: its tree
    // with the member that escaped it (and the evidence), its runtime, its history's chart.
    browser.click(&format!("{live_card} [data-kw-action=\"details\"]"));
    let detail = format!("[data-kw-detail=\"{live_run}\"]");
    let tree = browser.text_when(
        &detail,
        |t| t.contains("escaped (environment") && t.contains("sleep 1001"),
        "the detail's tree with its escaped member",
    );
    assert!(tree.contains(&format!("pid {live_pid}")), "{tree}");
    assert!(
        tree.contains("Started") && tree.contains("Claim expires"),
        "{tree}"
    );
    browser.text_when(
        &format!("{detail} svg[data-kw-chart=\"drawn\"]"),
        |_| true,
        "the detail's chart, drawn from the history",
    );
    // Its log, followed live: a line the worker's log gains now appears in the tab.
    browser.text_when(
        &format!("{detail} [data-kw-log-status]"),
        |t| t == "following" || t.starts_with("waiting"),
        "the log stream's start",
    );
    let log_file = PathBuf::from(made["live"]["log"].as_str().unwrap());
    let line = "a line the worker wrote while the tab was open";
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log_file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()))
        .unwrap();
    browser.text_when(
        &format!("{detail} [data-kw-log]"),
        |t| t.contains(line),
        "the line appended to the log, followed",
    );
    // The fleet, below: the other host's worker through Prometheus, with a link to act on it
    // at that host's own shim (never from here); this host's workers listed first.
    // Up as of its last scrape: one scrape past Prometheus's 1 s timeout on a loaded machine
    // shows it unreachable (with what it last reported) until the next one.
    let fleet = browser.text_when(
        "[data-kw-fleet-host=\"gpu-box-7\"]",
        |t| {
            t.contains(&format!("run {far_run} · t_far · pid {}", far_worker.pid()))
                && t.contains("up")
        },
        "the other host in the tab's fleet, up",
    );
    assert!(fleet.contains("up") && fleet.contains("alive"), "{fleet}");
    let href = browser
        .eval("document.querySelector('[data-kw-fleet-act=\"gpu-box-7\"]').getAttribute('href')");
    assert_eq!(
        href,
        serde_json::json!(format!("http://{}/?board=ops", far_shim.addr))
    );
    let first = browser
        .eval("document.querySelector('[data-kw-fleet-host]').getAttribute('data-kw-fleet-host')");
    assert_eq!(first, serde_json::json!(local_hostname()));
    let status = browser.text_when(
        "[data-kw-fleet-status]",
        |t| t.contains(&prometheus.url),
        "the fleet's source",
    );
    assert!(status.contains("2 hosts"), "{status}");
    // `make screenshots`: the tab as this test leaves it here (a worker's detail open, the
    // left-behind section below), at a desktop and a narrow width, for docs/hermes.md.
    if let Some(dir) = std::env::var_os("KANBAN_WORKERS_SCREENSHOTS") {
        screenshot(
            &mut browser,
            &PathBuf::from(&dir).join("workers-tab-desktop.png"),
            1280,
            false,
        );
        screenshot(
            &mut browser,
            &PathBuf::from(&dir).join("workers-tab-narrow.png"),
            390,
            true,
        );
        // The bottom of the tab: what runs left behind, and the fleet.
        browser.eval("document.querySelector('[data-kw-fleet]').scrollIntoView({block: 'end'})");
        screenshot(
            &mut browser,
            &PathBuf::from(&dir).join("workers-tab-fleet.png"),
            1280,
            false,
        );
    }
    let nav = browser.eval(
        "Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href')).join(' ')",
    );
    // The tab, right after the kanban tab (position after:kanban).
    assert!(nav.as_str().unwrap().contains("/kanban /workers"), "{nav}");
    // Nothing happens before the confirmation.
    browser.click(&format!("{live_card} [data-kw-action=\"terminate\"]"));
    browser.text_when(
        &format!("{live_card} [role=\"alertdialog\"]"),
        |t| t.contains("Terminate run"),
        "the confirmation",
    );
    assert!(std::path::Path::new(&format!("/proc/{live_pid}")).exists());
    browser.click(&format!(
        "{live_card} [data-kw-action=\"confirm-terminate\"]"
    ));
    let outcome = browser.text_when(
        &format!("[data-kw-outcome=\"{live_run}\"]"),
        |t| t.contains("reclaimed"),
        "the terminate's outcome",
    );
    assert!(outcome.contains(&format!("pid {live_pid}")), "{outcome}");
    assert!(
        outcome.contains("exited") || outcome.contains("killed"),
        "{outcome}"
    );
    assert!(outcome.contains("sleep 1000"), "{outcome}");
    // The card is gone (the run ended); the dead one is still there.
    browser.text_when(
        "[data-kw-status]",
        |t| t.starts_with("2 workers "),
        "the count after terminate",
    );

    // Reap what the ended run left behind, from the tab: confirmed first, each process's
    // outcome shown, the process gone.
    let left_row = format!("[data-kw-left-run=\"{left_run}\"]");
    let listed = browser.text_when(
        &left_row,
        |t| t.contains(&format!("pid {left_pid}")),
        "the left-behind row",
    );
    assert!(listed.contains("Regenerate the API docs"), "{listed}");
    assert!(Path::new(&format!("/proc/{left_pid}")).exists());
    browser.click(&format!("{left_row} [data-kw-action=\"reap\"]"));
    browser.text_when(
        &format!("{left_row} [role=\"alertdialog\"]"),
        |t| t.contains(&format!("pid {left_pid}")),
        "the reap's confirmation",
    );
    browser.click(&format!("{left_row} [data-kw-action=\"confirm-reap\"]"));
    let reaped = browser.text_when(
        &format!("[data-kw-outcome=\"{left_run}\"]"),
        |t| t.contains("reaped"),
        "the reap's outcome",
    );
    assert!(
        reaped.contains(&format!("pid {left_pid}"))
            && (reaped.contains("exited") || reaped.contains("killed")),
        "{reaped}"
    );
    let state = std::fs::read_to_string(format!("/proc/{left_pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty()
            || state
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
        "the reaped process is still running: {state}"
    );

    // A run of this board whose worker another host runs (its claim names gpu-box-7): its
    // terminate stays refused here, and the card links to gpu-box-7's own shim, from the fleet.
    let far_here = insert_run(
        &rusqlite::Connection::open(&board).unwrap(),
        &RunSpec::new("t_far_here")
            .pid(far_worker.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    // gpu-box-7 reports that run as its own worker (its copy of the run: same id and task): the
    // link goes to the target that reports the run, whatever the targets call themselves.
    let far_conn = rusqlite::Connection::open(far_folder.join("kanban.db")).unwrap();
    let copy = insert_run(
        &far_conn,
        &RunSpec::new("t_far_here")
            .pid(far_worker.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    assert_ne!(far_here, far_run);
    far_conn
        .execute(
            "UPDATE task_runs SET id = ?1 WHERE id = ?2",
            rusqlite::params![far_here, copy],
        )
        .unwrap();
    drop(far_conn);
    let far_card = format!("[data-kw-run=\"{far_here}\"]");
    let far_text = browser.text_when(
        &far_card,
        |t| t.contains(&format!("act on gpu-box-7 at {}", far_shim.addr)),
        "the other host's worker's link",
    );
    assert!(far_text.contains("another host's worker"), "{far_text}");
    let disabled = browser.eval(&format!(
        "document.querySelector('{}').disabled",
        format!("{far_card} [data-kw-action=\"terminate\"]").replace('\'', "\\'")
    ));
    assert_eq!(disabled, serde_json::Value::Bool(true), "{far_text}");
    let href = browser.eval(&format!(
        "document.querySelector('{}').getAttribute('href')",
        format!("{far_card} [data-kw-act-elsewhere]").replace('\'', "\\'")
    ));
    assert_eq!(
        href,
        serde_json::json!(format!("http://{}/?board=ops", far_shim.addr))
    );

    // The board, read with SQLite: the owner's reclaim.
    let db =
        rusqlite::Connection::open_with_flags(&board, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let (status, current): (String, Option<i64>) = db
        .query_row(
            "SELECT status, current_run_id FROM tasks WHERE id = ?1",
            [&live_task],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), current), ("ready", None));
    let (run_status, error): (String, String) = db
        .query_row(
            "SELECT status, error FROM task_runs WHERE id = ?1",
            [live_run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(run_status, "reclaimed");
    assert_eq!(
        error,
        "manual_reclaim: terminated from the dashboard's Workers tab"
    );
    let events: i64 = db
        .query_row(
            "SELECT count(*) FROM task_events WHERE run_id = ?1 AND kind = 'reclaimed'",
            [live_run],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(events, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{live_pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z"))
    {
        assert!(
            Instant::now() < deadline,
            "the worker {live_pid} is still alive"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every board at once (the shim's ?board=*, issue 39 §2): each card with its board, a
    // worker's detail read from its own board.
    browser.goto(&format!("http://{dash_addr}/workers?board=*"));
    let every_card = format!("[data-kw-board=\"ops\"][data-kw-run=\"{window_run}\"]");
    let every = browser.text_when(
        &every_card,
        |t| t.contains(&format!("board ops · run {window_run}")),
        "a card of every board's view",
    );
    assert!(every.contains("Translate the release notes"), "{every}");
    let every_status = browser.text_when(
        "[data-kw-status]",
        |t| t.contains("2 boards"),
        "every board's count",
    );
    // Is anyone dispatching? The fixture, which claimed them, runs (issue 39 §5).
    assert!(
        every_status.contains(&format!(
            "dispatched by {}:{}",
            local_hostname(),
            dispatcher.0.id()
        )),
        "{every_status}"
    );
    browser.click(&format!("{every_card} [data-kw-action=\"details\"]"));
    browser.text_when(
        &format!("[data-kw-detail=\"{window_run}\"] [data-kw-tree]"),
        |t| t.contains("pid "),
        "the detail read from the worker's own board",
    );
    // How runs ended, every board's summed (issue 39 §4): the run terminated above was
    // reclaimed, the one completed left its worker behind.
    let strip = browser.text_when(
        "[data-kw-endings]",
        |t| t.contains("reclaimed · latest: reclaimed: manual_reclaim"),
        "how runs ended",
    );
    assert!(
        strip.starts_with("How runs ended, the last 6 hours: "),
        "{strip}"
    );
    assert!(strip.contains("completed · latest: completed"), "{strip}");

    // The tab's other board (the dashboard's active one, without ?board=) has no worker.
    browser.goto(&format!("http://{dash_addr}/workers?board=default"));
    browser.text_when(
        "[data-kw-root]",
        |t| t.contains("No worker is running on this board."),
        "the default board",
    );
    drop(browser);

    // The shim ends with the dashboard (the token's folder is swept at the next start when
    // the dashboard skipped its exit handlers, as 0.19.0's does on SIGTERM).
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(dash_pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{shim}")).exists()
        && cmdline(shim).first().map(String::as_str) == Some(shim_bin())
    {
        assert!(
            Instant::now() < deadline,
            "the shim {shim} outlived the dashboard"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = dash.0.wait();
    std::fs::remove_dir_all(token_file.parent().unwrap()).unwrap();
    drop(dispatcher.0.stdin.take());
    let _ = dispatcher.0.wait();

    // Uninstall leaves the owner's files, and only them.
    let said = run_ok(
        Command::new(shim_bin())
            .args(["hermes", "uninstall", "--hermes-home"])
            .arg(home),
    );
    assert!(said.contains("Removed"), "{said}");
    assert!(!plugin.exists());
    assert!(home.join("config.yaml").is_file());
    let mut dash_log = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut dash_log)
        .unwrap();
    assert!(
        !dash_log.contains("Failed to load plugin kanban-workers"),
        "{dash_log}"
    );
}

/// The whole page in `browser` at `width` CSS pixels (a phone's, when `mobile`), as a PNG at
/// `path`; the width is restored after.
fn screenshot(browser: &mut Browser, path: &Path, width: u32, mobile: bool) {
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
    );
    // A layout at the new width before the capture.
    browser.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");
    let shot = browser.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png", "captureBeyondViewport": true}),
    );
    let data = shot["data"].as_str().expect("a screenshot").to_owned();
    let mut decode = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(path).expect("the screenshot's file"))
        .spawn()
        .expect("base64");
    std::io::Write::write_all(decode.stdin.as_mut().unwrap(), data.as_bytes()).unwrap();
    drop(decode.stdin.take());
    assert!(decode.wait().unwrap().success());
    browser.call(
        "Emulation.clearDeviceMetricsOverride",
        serde_json::json!({}),
    );
}

/// Stop and the workers the board calls dead, in the Workers tab of the real dashboard
/// (hermes-agent 0.19.0) in a real browser, on a board the owner's own functions made: the
/// run the board booked `crashed` while its process runs on is shown first with its evidence
/// and reaped from there; Stop beside Terminate, each saying what happens to the task,
/// confirmed, blocks the live worker's task as the owner's `block_task` does and ends its
/// processes.
#[test]
#[ignore = "needs hermes-agent 0.19.0 in target/hermes-venv and chromium: `make test` installs the first (PyPI) and runs it where both exist"]
fn the_workers_tab_stops_a_worker_and_shows_the_dead_that_run() {
    let venv = venv();
    let (python, hermes) = (venv.join("bin/python"), venv.join("bin/hermes"));
    assert!(
        hermes.is_file(),
        "no {} (make test installs it)",
        hermes.display()
    );
    assert!(Path::new(CHROMIUM).is_file(), "this test needs {CHROMIUM}");
    let home = temp_dir("hermes-stop-home");
    let home = home.path();
    let env = |cmd: &mut Command| {
        cmd.env("HERMES_HOME", home)
            .env_remove("HERMES_KANBAN_HOME")
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD")
            .env_remove("KANBAN_WORKERS_BIN")
            .env_remove("KANBAN_WORKERS_PROMETHEUS");
    };
    run_ok(
        Command::new(shim_bin())
            .args(["hermes", "install", "--hermes-home"])
            .arg(home),
    );
    let mut enable = Command::new(&hermes);
    env(&mut enable);
    run_ok(
        enable
            .args(["plugins", "enable", "kanban-workers"])
            .stdin(Stdio::null()),
    );
    let mut fixture = Command::new(&python);
    env(&mut fixture);
    let mut dispatcher = Killed(
        fixture
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/hermes_board.py"))
            .arg("ops")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the board fixture"),
    );
    let mut line = String::new();
    BufReader::new(dispatcher.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let made: serde_json::Value = serde_json::from_str(&line).expect("the fixture's JSON");
    let board = PathBuf::from(made["board"].as_str().unwrap());
    let id = |k: &str, f: &str| made[k][f].as_i64().unwrap();
    let (live_run, live_pid) = (id("live", "run"), id("live", "pid"));
    let (left_run, left_pid) = (id("left", "run"), id("left", "pid"));
    let live_task = made["live"]["task"].as_str().unwrap().to_owned();
    // The owner's sweep books the ended run's worker dead (#110357): `crashed`, not completed.
    rusqlite::Connection::open(&board)
        .unwrap()
        .execute(
            "UPDATE task_runs SET status = 'crashed', outcome = 'crashed' WHERE id = ?1",
            [left_run],
        )
        .unwrap();
    let log = home.join("dashboard.log");
    let mut dash = Command::new(&hermes);
    env(&mut dash);
    let mut dash = Killed(
        dash.args(["dashboard", "--no-open", "--port", "0"])
            .env("HERMES_DASHBOARD_SESSION_TOKEN", SESSION)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("hermes dashboard"),
    );
    let (tx, lines) = mpsc::channel();
    let out = dash.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let ready = wait_line(&lines, "HERMES_DASHBOARD_READY port=", 180, "the dashboard");
    let dash_addr = format!("127.0.0.1:{}", ready.rsplit('=').next().unwrap().trim());
    let stop = format!("/api/plugins/kanban-workers/runs/{live_run}/stop?board=ops");
    assert_eq!(http_post(&dash_addr, &stop, &[]).status, 401);

    let profile = temp_dir("hermes-stop-chromium");
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{dash_addr}/workers?board=ops"));
    // First on the tab: the run the board calls dead, with its evidence.
    let undead = format!("[data-kw-undead-run=\"{left_run}\"]");
    let shown = browser.text_when(
        &undead,
        |t| t.contains("the board says crashed"),
        "the run the board calls dead",
    );
    assert!(shown.contains("Regenerate the API docs"), "{shown}");
    assert!(shown.contains(&format!("pid {left_pid} · ")), "{shown}");
    assert!(shown.contains("evidence: environment"), "{shown}");
    let first = browser.eval(
        "!!(document.querySelector('[data-kw-undead]').compareDocumentPosition(\
         document.querySelector('.kw-grid')) & Node.DOCUMENT_POSITION_FOLLOWING)",
    );
    assert_eq!(first, true);
    // Stop beside Terminate, each saying what happens to the task; the confirmation first.
    let live_card = format!("[data-kw-run=\"{live_run}\"]");
    let card = browser.text_when(
        &live_card,
        |t| t.contains("stop: the task is blocked, not claimed again"),
        "the live card's acts",
    );
    assert!(
        card.contains("terminate: the task goes back to ready"),
        "{card}"
    );
    browser.click(&format!("{live_card} [data-kw-action=\"stop\"]"));
    browser.text_when(
        &format!("{live_card} [data-kw-confirm=\"stop\"]"),
        |t| t.contains("is blocked first"),
        "the stop's confirmation",
    );
    assert!(alive(live_pid));
    browser.click(&format!("{live_card} [data-kw-action=\"confirm-stop\"]"));
    let outcome = browser.text_when(
        &format!("[data-kw-outcome=\"{live_run}\"]"),
        |t| t.contains("stopped"),
        "the stop's outcome",
    );
    assert!(outcome.contains("blocked (not claimed again)"), "{outcome}");
    assert!(outcome.contains(&format!("pid {live_pid}")), "{outcome}");
    let db =
        rusqlite::Connection::open_with_flags(&board, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let (status, run_status): (String, String) = db
        .query_row(
            "SELECT t.status, r.status FROM tasks t JOIN task_runs r ON r.task_id = t.id
             WHERE t.id = ?1 AND r.id = ?2",
            rusqlite::params![live_task, live_run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), run_status.as_str()),
        ("blocked", "blocked")
    );
    // Reap from the top section, confirmed.
    browser.click(&format!("{undead} [data-kw-action=\"reap\"]"));
    browser.text_when(
        &format!("{undead} [role=\"alertdialog\"]"),
        |t| t.contains(&format!("pid {left_pid}")),
        "the reap's confirmation",
    );
    browser.click(&format!("{undead} [data-kw-action=\"confirm-reap\"]"));
    let reaped = browser.text_when(
        &format!("[data-kw-outcome=\"{left_run}\"]"),
        |t| t.contains("reaped"),
        "the reap's outcome",
    );
    assert!(reaped.contains(&format!("pid {left_pid}")), "{reaped}");
    assert!(!alive(left_pid), "{reaped}");
    drop(browser);
    // The plugin's token folder, which a dashboard killed before its exit handlers leaves.
    let shim = descendants(i64::from(dash.0.id()))
        .into_iter()
        .find(|p| cmdline(*p).first().map(String::as_str) == Some(shim_bin()))
        .expect("the plugin's shim");
    let argv = cmdline(shim);
    let token_file =
        PathBuf::from(&argv[argv.iter().position(|a| a == "--token-file").unwrap() + 1]);
    drop(dash);
    let _ = std::fs::remove_dir_all(token_file.parent().unwrap());
    drop(dispatcher.0.stdin.take());
    let _ = dispatcher.0.wait();
}

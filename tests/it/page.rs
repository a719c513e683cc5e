#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The live page at `/`, in a real headless browser (Debian's chromium) against the demo
//! board: rendered worker cards, a dead worker's reason, a phone-width screenshot, both
//! prefixes, and the message when the board is unavailable.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::json;

/// A fresh browser profile folder, once chromium is known to be there.
fn browser_profile(tag: &str) -> tempfile::TempDir {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "this test needs Debian's chromium at {CHROMIUM}"
    );
    temp_dir(tag)
}

/// The DOM after the page's script has run for a few (virtual) seconds.
fn rendered(url: &str, profile: &Path, screenshot: Option<&Path>) -> String {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=6000",
        "--window-size=390,844",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    run_ok(cmd.arg(url))
}

#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_renders_the_demo_in_a_real_browser() {
    let home = temp_dir("page-demo");
    let profile = browser_profile("page-profile");
    let mut cmd = Command::new(shim_bin());
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--quiet"])
        .env("HOME", home.path());
    let server = Server::spawn(cmd, "curl -s http://");
    assert!(
        server.banner[0].starts_with("The live page: http://"),
        "the page's address comes first: {:?}",
        server.banner
    );
    for prefix in ["/", "/api/plugins/kanban/"] {
        let dom = rendered(
            &format!("http://{}{prefix}", server.addr),
            profile.path(),
            None,
        );
        assert!(dom.contains("class=\"worker"), "{prefix}: {dom}");
        assert!(dom.contains("Summarise the nightly test failures"), "{dom}");
        assert!(dom.contains("Refactor the billing module"), "{dom}");
        // The worker whose process is gone, with its reason.
        assert!(dom.contains("process not found"), "{dom}");
        assert!(dom.contains("alive · verified"), "{dom}");
        assert!(dom.contains("<svg"), "{dom}");
        assert!(dom.contains("3 workers · updated"), "{dom}");
    }
    let shot = profile.path().join("page.png");
    rendered(
        &format!("http://{}/", server.addr),
        profile.path(),
        Some(&shot),
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
    // A board that is not there: the page says so (and keeps retrying).
    let missing = temp_dir("page-missing");
    let gone = Server::start(&missing.path().join("kanban.db"));
    let dom = rendered(&format!("http://{}/", gone.addr), profile.path(), None);
    assert!(dom.contains("The board is unavailable"), "{dom}");
    assert!(dom.contains("does not exist"), "{dom}");
    // Reads behind a token: the page takes it from its fragment.
    let board = Board::new("page-token");
    insert_run(&board.writer(), &RunSpec::new("t_guarded").pid(4242));
    let guarded = Server::with_token(&board.path, "page-secret", &["--auth-reads"]);
    let page = format!("http://{}/", guarded.addr);
    let dom = rendered(&page, profile.path(), None);
    assert!(dom.contains("The board is unavailable"), "{dom}");
    let dom = rendered(&format!("{page}#token=page-secret"), profile.path(), None);
    assert!(dom.contains("title of t_guarded"), "{dom}");
}

/// The most characters of one board value the page shows (docs/http.md, `GET /`).
const PAGE_TEXT_MAX: usize = 256;

/// A 200 KB task id (and so a 200 KB title): the page shows each cut to PAGE_TEXT_MAX
/// characters ending in `…`, so the rendered page stays small; the JSON route is unchanged.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_bounds_the_text_it_shows() {
    let profile = browser_profile("page-long-profile");
    let board = Board::new("page-long");
    let task_id = format!("t_{}", "x".repeat(200 * 1024));
    insert_run(&board.writer(), &RunSpec::new(&task_id).pid(4242));
    let server = Server::start(&board.path);
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 200);
    assert_eq!(body["workers"][0]["task_id"], task_id.as_str());
    let dom = rendered(&format!("http://{}/", server.addr), profile.path(), None);
    let head: String = dom.chars().take(4096).collect();
    assert!(dom.contains("1 worker · updated"), "{head}");
    let title = format!("title of t_{}…", "x".repeat(PAGE_TEXT_MAX - 12));
    assert!(dom.contains(&format!(">{title}</h2>")), "no cut title");
    let id = format!("t_{}…", "x".repeat(PAGE_TEXT_MAX - 3));
    assert!(dom.contains(&format!("run 1 · {id} · ")), "no cut id");
    // The page itself (its script included) and a few KiB of rendered text: the 200 KB are
    // not there.
    let page = kanban_workers::shim::answer::PAGE.len();
    assert!(
        dom.len() < page + 8 * 1024,
        "the rendered page is {} bytes (the page's own {page})",
        dom.len()
    );
}

/// The "left behind" section: a worker whose run was completed (0.19.0 clears its pid) is shown
/// with its run, its process and a reap button (behind a confirmation, so never clicked here).
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_shows_what_runs_left_behind() {
    let profile = browser_profile("page-left-profile");
    let board = Board::new("page-left");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_left");
    complete_as_0_19(&w, "t_left", worker.run);
    let server = Server::start(&board.path);
    let dom = rendered(&format!("http://{}/", server.addr), profile.path(), None);
    assert!(dom.contains("Left behind"), "{dom}");
    assert!(dom.contains("class=\"worker lingering\""), "{dom}");
    assert!(dom.contains("title of t_left"), "{dom}");
    assert!(dom.contains(&format!("pid {} · ", worker.pid())), "{dom}");
    assert!(dom.contains("reap 1 process</button>"), "{dom}");
    assert!(dom.contains("1 process left behind by ended runs"), "{dom}");
    assert!(dom.contains("0 workers · updated"), "{dom}");
}

/// The reap button of the "left behind" section, clicked and confirmed in a real browser (the
/// page opened with its token in the fragment): what the ended run left behind is ended, and
/// the outcome is shown on the card.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_reaps_what_a_run_left_behind() {
    let profile = browser_profile("page-reap-profile");
    let board = Board::new("page-reap");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_left");
    complete_as_0_19(&w, "t_left", worker.run);
    let server = Server::with_token(&board.path, "page-token", &[]);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/#token=page-token", server.addr));
    browser.text_when("button.reap", |t| t == "reap 1 process", "the reap button");
    // The confirmation, answered yes (the page asks with confirm()).
    browser.eval("window.confirm = () => true; true");
    browser.click("button.reap");
    let outcome = browser.text_when(
        "article.lingering button.reap + div.meta",
        |t| t.starts_with("reaped: "),
        "the reap's outcome",
    );
    assert!(outcome.contains(&format!("{} ", worker.pid())), "{outcome}");
    let p = worker.pid();
    let state = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
    let gone = state.is_empty()
        || matches!(
            state
                .rsplit(')')
                .next()
                .and_then(|r| r.trim().chars().next()),
            Some('Z' | 'X')
        );
    assert!(gone, "{p} still runs after the reap: {state}");
}

/// The control room: a worker's card clicked opens its detail, with its process tree (the
/// escaped member marked), its log followed (a line written during the test shows up), its
/// times and max-runtime bar; terminate, confirmed, ends its processes, reclaims the run and
/// shows each process's outcome.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_opens_a_workers_detail_and_terminates_it() {
    let profile = browser_profile("page-detail-profile");
    let board = Board::new("page-detail");
    // Where the shim looks for the board's logs (`--db <dir>/kanban.db`: <dir>/kanban/logs).
    let logs = board.path.with_file_name("kanban").join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("t_d.log");
    std::fs::write(&log, "the worker's first line\n").unwrap();
    let w = board.writer();
    let script = "(sleep 1001 &); while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&w, &board.path, "t_d", &["sh", "-c", script]);
    w.execute(
        "UPDATE task_runs SET max_runtime_seconds = 3600 WHERE id = ?1",
        [worker.run],
    )
    .unwrap();
    let escaped = process_of_run(&board.path, worker.run, &["sleep", "1001"]);
    let _e = KillOnDrop(escaped);
    let child = process_of_run(&board.path, worker.run, &["sleep", "1000"]);
    let server = Server::with_token(&board.path, "page-token", &[]);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/#token=page-token", server.addr));
    browser.text_when(
        "article.worker.live h2",
        |t| t == "title of t_d",
        "the card",
    );
    browser.click("article.worker.live");
    browser.text_when("#d-title", |t| t == "title of t_d", "the detail's title");
    // The tree: the worker, its child, and the double-forked grandchild marked escaped.
    let tree = |b: &mut Browser, pid: i64| {
        b.text_when(
            &format!("#d-procs tr[data-pid=\"{pid}\"]"),
            |_| true,
            "a process row",
        )
    };
    assert!(tree(&mut browser, worker.pid()).contains("worker"));
    assert!(tree(&mut browser, child).contains("sleep 1000"));
    let row = browser.text_when(
        "#d-procs tr.escaped",
        |t| t.contains("escaped"),
        "the escaped member",
    );
    assert!(
        row.contains(&escaped.to_string()) && row.contains("environment"),
        "{row}"
    );
    // The log: its tail, then a line written now.
    browser.text_when(
        "#log",
        |t| t.contains("the worker's first line"),
        "the log's tail",
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, "written while the page follows\n".as_bytes()).unwrap();
    browser.text_when(
        "#log",
        |t| t.contains("written while the page follows"),
        "the followed line",
    );
    // The times and the max-runtime bar.
    let times = browser.text_when("#d-times", |t| t.contains("claim expires"), "the times");
    assert!(
        times.contains("started") && times.contains("heartbeat"),
        "{times}"
    );
    browser.text_when(
        "#d-runtime-text",
        |t| t.contains("% of its max runtime"),
        "the bar",
    );
    assert_eq!(
        browser.eval("document.getElementById('d-runtime').hidden"),
        false
    );
    assert_eq!(
        browser.eval("document.getElementById('d-runtime').max"),
        3600
    );
    // Terminate, confirmed.
    browser.eval("window.confirm = () => true; true");
    browser.click("#d-terminate");
    let outcome = browser.text_when("#outcome", |t| t.starts_with("terminated: "), "the outcome");
    assert!(
        outcome.contains(&format!("pid {} · ", worker.pid())),
        "{outcome}"
    );
    assert!(outcome.contains(&format!("pid {escaped} · ")), "{outcome}");
    for pid in [worker.pid(), child, escaped] {
        assert!(!alive(pid), "{pid} still runs: {outcome}");
    }
    let (_, run) = server.get_json(&format!("/runs/{}", worker.run));
    assert_eq!(run["run"]["status"], "reclaimed", "{run}");
}

/// Charts full on open: the shim's history (taken before the page opened) is drawn at the
/// first render.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_draws_its_charts_from_the_history_on_first_load() {
    let profile = browser_profile("page-history-profile");
    let board = Board::new("page-history");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_h");
    let server = Server::start(&board.path);
    // The shim's timer samples every 2 s: wait until it has three points.
    let history = format!("/runs/{}/history", worker.run);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.get_json(&history).1["count"].as_u64().unwrap_or(0) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no history after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/", server.addr));
    browser.text_when(
        "article.worker.live h2",
        |t| t == "title of t_h",
        "the card",
    );
    let loaded = browser.eval("Number(document.body.dataset.historyPoints)");
    assert!(loaded.as_u64().unwrap() >= 3, "{loaded}");
    let drawn = browser.eval(
        "document.querySelector('article.worker.live svg polyline.cpu').getAttribute('points').split(' ').length",
    );
    assert!(drawn.as_u64().unwrap() >= 3, "{drawn} points drawn");
}

/// The token in the fragment is read as written (a base64 `+` is not a space), kept for the
/// tab and taken out of the address bar; the page works on with it.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_reads_its_token_as_written_and_hides_it() {
    let profile = browser_profile("page-token-profile");
    let board = Board::new("page-token");
    let worker = Worker::sleep();
    insert_run(
        &board.writer(),
        &RunSpec::new("t_t").pid(worker.pid()).started(now_secs()),
    );
    let token = "a+b/c=";
    let server = Server::with_token(&board.path, token, &["--auth-reads"]);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/#token=a%2Bb/c=", server.addr));
    browser.text_when(
        "#status",
        |t| t.starts_with("1 worker · updated"),
        "the list",
    );
    assert_eq!(browser.eval("location.hash"), "");
    // A "+" written as is, too.
    browser.goto(&format!("http://{}/?x=1#token={token}", server.addr));
    browser.text_when(
        "#status",
        |t| t.starts_with("1 worker · updated"),
        "the list",
    );
    assert_eq!(browser.eval("location.href.includes('token')"), false);
}

/// A run id past 2^53 (a board writer can set one): JavaScript cannot hold it exactly, so two
/// such runs would share one id; their cards are shown and cannot be acted on.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_does_not_act_on_run_ids_it_cannot_hold() {
    let profile = browser_profile("page-bigid-profile");
    let board = Board::new("page-bigid");
    let w = board.writer();
    let worker = Worker::sleep();
    // And an id the routes refuse (negative): listed, never clickable.
    for (id, task) in [
        (9_007_199_254_740_992_i64, "t_real"),
        (9_007_199_254_740_993, "t_decoy"),
        (-5, "t_negative"),
    ] {
        insert_run(
            &w,
            &RunSpec::new(task).pid(worker.pid()).started(now_secs()),
        );
        w.execute(
            "UPDATE task_runs SET id = ?1 WHERE task_id = ?2",
            rusqlite::params![id, task],
        )
        .unwrap();
    }
    let server = Server::start(&board.path);
    let dom = rendered(&format!("http://{}/", server.addr), profile.path(), None);
    for title in ["title of t_real", "title of t_decoy", "title of t_negative"] {
        assert!(dom.contains(title), "{title}: {dom}");
    }
    assert!(!dom.contains("class=\"worker live"), "{dom}");
    assert!(dom.contains("run id this page cannot act on"), "{dom}");
}

/// Every board at once (`/?board=*`, issue 39 §2): the workers of two boards of a real kanban
/// root, each card with its board, the same run id on both; a card opened shows its own
/// board's run (its processes read there), and terminate, confirmed, ends that board's worker
/// and reclaims that board's run, the other board's run 1 untouched.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_shows_every_board_and_acts_on_each_workers_own() {
    let profile = browser_profile("page-every-profile");
    let dir = temp_dir("page-every");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let default = create_board(&root.join("kanban.db"));
    let ops_path = root.join("kanban/boards/ops/kanban.db");
    std::fs::create_dir_all(ops_path.parent().unwrap()).unwrap();
    let ops = create_board(&ops_path);
    let w_default = HermesWorker::sleep(&default, &root.join("kanban.db"), "t_home");
    let w_ops = HermesWorker::sleep(&ops, &ops_path, "t_ops");
    assert_eq!((w_default.run, w_ops.run), (1, 1));
    std::fs::write(root.join("token"), "page-token").unwrap();
    let mut cmd = Command::new(shim_bin());
    cmd.env_remove("HERMES_KANBAN_DB")
        .env("HERMES_KANBAN_HOME", &root)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--token-file",
        ])
        .arg(root.join("token"));
    let server = Server::spawn(cmd, "serving board");
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/?board=*#token=page-token", server.addr));
    let status = browser.text_when("#status", |t| t.starts_with("2 workers"), "the list");
    assert!(status.contains("2 boards"), "{status}");
    let meta = browser.text_when(
        "article.worker.live[data-board=\"ops\"] .meta",
        |t| t.starts_with("board ops · run 1"),
        "the ops card",
    );
    assert!(meta.contains("t_ops"), "{meta}");
    browser.text_when(
        "article.worker.live[data-board=\"default\"] .meta",
        |t| t.starts_with("board default · run 1"),
        "the default card",
    );
    browser.click("article.worker.live[data-board=\"ops\"]");
    browser.text_when(
        "#d-meta",
        |t| t.starts_with("board ops · run 1"),
        "the detail",
    );
    browser.text_when(
        &format!("#d-procs tr[data-pid=\"{}\"]", w_ops.pid()),
        |t| t.contains("worker"),
        "the ops worker's process",
    );
    browser.eval("window.confirm = () => true; true");
    browser.click("#d-terminate");
    browser.text_when(
        "#outcome",
        |t| t.starts_with("terminated: run 1"),
        "the outcome",
    );
    assert!(!alive(w_ops.pid()), "the ops worker still runs");
    assert!(
        alive(w_default.pid()),
        "the default board's worker was ended"
    );
    let (_, run) = server.get_json("/runs/1?board=ops");
    assert_eq!(run["run"]["status"], "reclaimed", "{run}");
    let (_, run) = server.get_json("/runs/1");
    assert_eq!(run["run"]["status"], "running", "{run}");
}

/// How runs ended, the last 6 hours (issue 39 §4): the strip at the top of the page, from
/// `runs/endings`, each ending with its count and the latest one's words.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_shows_how_runs_ended() {
    let profile = browser_profile("page-endings-profile");
    let board = Board::new("page-endings");
    let w = board.writer();
    for (task, outcome, metadata) in [
        (
            "t_a",
            "crashed",
            r#"{"exit_kind": "nonzero_exit", "exit_code": 3}"#,
        ),
        (
            "t_b",
            "crashed",
            r#"{"exit_kind": "signaled", "exit_code": 9}"#,
        ),
        ("t_c", "rate_limited", r#"{"exit_code": 75}"#),
        ("t_d", "spawn_failed", r#"{"infrastructure": true}"#),
    ] {
        let run = insert_run(
            &w,
            &RunSpec::new(task)
                .started(now_secs() - 30)
                .ended(now_secs()),
        );
        w.execute(
            "UPDATE task_runs SET outcome = ?1, status = ?1, metadata = ?2, error = 'no user bus' WHERE id = ?3",
            rusqlite::params![outcome, metadata, run],
        )
        .unwrap();
    }
    let server = Server::start(&board.path);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/", server.addr));
    browser.text_when(
        "#endings-status",
        |t| t == "4 runs ended",
        "the endings' count",
    );
    let crashed = browser.text_when(
        "#endings-strip [data-ending=\"crashed\"]",
        |t| t.starts_with("2 crashed · latest: crashed: "),
        "the crashes",
    );
    assert!(
        crashed.contains("killed by signal 9 (SIGKILL)") || crashed.contains("exit code 3"),
        "{crashed}"
    );
    browser.text_when(
        "#endings-strip [data-ending=\"spawn_refused\"]",
        |t| t == "1 host refused the spawn · latest: the host refused the spawn: no user bus (not counted as a failure)",
        "the refused spawn",
    );
    browser.text_when(
        "#endings-strip [data-ending=\"rate_limited\"]",
        |t| t.starts_with("1 rate-limited · latest: rate-limited (exit 75)"),
        "the rate limit",
    );
}

/// Is anyone dispatching this board? (issue 39 §5) A worker whose claim names a dispatcher
/// that is gone: the page says so at the top and on its card; the live dispatcher of another
/// worker is named in the status line.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_says_when_no_one_dispatches_a_worker() {
    let profile = browser_profile("page-claimers-profile");
    let board = Board::new("page-claimers");
    let w = board.writer();
    let hermes = HermesWorker::sleep(&w, &board.path, "t_live");
    let gone = Worker::sleep().end();
    let orphan = Worker::sleep();
    let lock = format!("{}:{gone}", local_hostname());
    let run = insert_run(
        &w,
        &RunSpec::new("t_orphan")
            .pid(orphan.pid())
            .started(now_secs())
            .lock(Some(&lock)),
    );
    let server = Server::start(&board.path);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/", server.addr));
    let banner = browser.text_when(
        "#claimers:not([hidden])",
        |t| t.contains(&lock),
        "the banner",
    );
    assert!(
        banner.contains(&format!(
            "the dispatcher {lock} that claimed 1 running worker (run {run}) is gone"
        )),
        "{banner}"
    );
    let card = browser.text_when(
        &format!("article.worker[data-run-id=\"{run}\"] .claimer"),
        |t| t.contains("is gone (no such process)"),
        "the card's claimer",
    );
    assert!(card.contains(&lock), "{card}");
    let status = browser.text_when("#status", |t| t.contains("dispatched by"), "the status");
    assert!(
        status.contains(&format!(
            "dispatched by {}:{}",
            local_hostname(),
            hermes.dispatcher_pid()
        )),
        "{status}"
    );
}

/// Stop, beside terminate in a worker's detail, each saying what happens to the task:
/// confirmed in a real browser, the task is blocked (not claimed again), the run ended
/// `blocked`, and every process of the run ended (the double-forked one that escaped too).
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_stops_a_worker_and_blocks_its_task() {
    let profile = browser_profile("page-stop-profile");
    let board = Board::new("page-stop");
    let w = board.writer();
    let script = "(setsid -f sleep 1001 &); while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&w, &board.path, "t_s", &["sh", "-c", script]);
    let escaped = process_of_run(&board.path, worker.run, &["sleep", "1001"]);
    let _e = KillOnDrop(escaped);
    let server = Server::with_token(&board.path, "page-token", &[]);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/#token=page-token", server.addr));
    browser.text_when(
        "article.worker.live h2",
        |t| t == "title of t_s",
        "the card",
    );
    browser.click("article.worker.live");
    let effects = browser.text_when("#d-effects", |t| !t.is_empty(), "what each act does");
    assert!(
        effects.contains("terminate: the task goes back to ready")
            && effects.contains("stop: the task is blocked, not claimed again"),
        "{effects}"
    );
    assert_eq!(
        browser.eval("document.getElementById('d-stop').disabled"),
        false
    );
    browser.eval(
        "window.asked = ''; window.confirm = (m) => { window.asked = m; return true; }; true",
    );
    browser.click("#d-stop");
    let outcome = browser.text_when("#outcome", |t| t.starts_with("stopped: "), "the outcome");
    assert!(
        outcome.contains("task t_s is blocked (not claimed again)"),
        "{outcome}"
    );
    let asked = browser.eval("window.asked");
    assert!(
        asked.as_str().unwrap().contains("is blocked first"),
        "{asked}"
    );
    for pid in [worker.pid(), escaped] {
        assert!(!alive(pid), "{pid} still runs: {outcome}");
    }
    let (_, run) = server.get_json(&format!("/runs/{}", worker.run));
    assert_eq!(
        (
            &run["run"]["status"],
            &run["run"]["outcome"],
            &run["run"]["summary"]
        ),
        (
            &json!("blocked"),
            &json!("blocked"),
            &json!("stopped from the live page")
        ),
        "{run}"
    );
    let status: String = board
        .writer()
        .query_row("SELECT status FROM tasks WHERE id = 't_s'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "blocked");
}

/// A run the board booked `crashed` while its worker runs on is shown first, above the
/// workers, with what the board says, its process and the evidence; reap, confirmed, ends it.
#[test]
#[ignore = "needs chromium: `make test` runs it where /usr/bin/chromium exists (.ci/run installs it)"]
fn the_live_page_shows_the_workers_the_board_calls_dead_first() {
    let profile = browser_profile("page-undead-profile");
    let board = Board::new("page-undead");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_u");
    w.execute_batch(&format!(
        "UPDATE task_runs SET ended_at = CAST(strftime('%s', 'now') AS INTEGER),
                status = 'crashed', outcome = 'crashed', worker_pid = NULL, claim_lock = NULL
          WHERE id = {};
         UPDATE tasks SET status = 'ready', current_run_id = NULL, worker_pid = NULL,
                claim_lock = NULL WHERE id = 't_u';",
        worker.run
    ))
    .unwrap();
    let server = Server::with_token(&board.path, "page-token", &[]);
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/#token=page-token", server.addr));
    let card = browser.text_when(
        "#undead article",
        |t| t.contains("the board says crashed"),
        "the run the board calls dead",
    );
    assert!(card.contains("title of t_u"), "{card}");
    assert!(card.contains(&format!("pid {} · ", worker.pid())), "{card}");
    assert!(card.contains("evidence: environment"), "{card}");
    assert!(card.contains("its task may be claimed again"), "{card}");
    // At the top: before the workers.
    let first = browser.eval(
        "!!(document.getElementById('undead').compareDocumentPosition(\
         document.getElementById('workers')) & Node.DOCUMENT_POSITION_FOLLOWING)",
    );
    assert_eq!(first, true);
    assert_eq!(
        browser.eval("document.getElementById('undead').hidden"),
        false
    );
    browser.eval("window.confirm = () => true; true");
    browser.click("#undead button.reap");
    let outcome = browser.text_when(
        "#undead article button.reap + div.meta",
        |t| t.starts_with("reaped: "),
        "the reap's outcome",
    );
    assert!(outcome.contains(&format!("{} ", worker.pid())), "{outcome}");
    assert!(!alive(worker.pid()), "{outcome}");
    browser.text_when(
        "#undead-status",
        |t| t.is_empty(),
        "the section emptied once nothing runs",
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The live page at `/`, in a real headless browser (Debian's chromium) against the demo
//! board: rendered worker cards, a dead worker's reason, a phone-width screenshot, both
//! prefixes, and the message when the board is unavailable.

use std::path::Path;
use std::process::Command;

use crate::common::*;

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

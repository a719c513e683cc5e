//! Rows the newer releases tolerate (issue 37 §5): their `Run.from_row` and their board
//! connections' `text_factory` read text that is not UTF-8, and a BLOB where the `Run` has
//! text, as Python's `bytes.decode("utf-8", "replace")` does (each invalid sequence one
//! U+FFFD); one corrupt row never takes a listing down. The shim answers the same rows the
//! same way, on every read route, through a real HTTP client, diffed against the newer
//! release's own plugin route on the same board.

use std::process::Command;

use serde_json::{Value, json};

use super::{Dispatcher, iot_python, keys};
use crate::common::*;

/// The bytes as Python's `bytes.decode("utf-8", "replace")` decodes them, each case by a real
/// Debian python3.
fn python_decoded(cases: &[&[u8]]) -> Vec<String> {
    let hex: Vec<String> = cases
        .iter()
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let out = run_ok(
        Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(
                "import json, sys\n\
                 print(json.dumps([bytes.fromhex(h).decode('utf-8', 'replace') for h in sys.argv[1:]]))",
            )
            .args(&hex),
    );
    serde_json::from_str(&out).unwrap()
}

/// Rust's lossy decoding (what the shim answers) replaces exactly as Python's does: the
/// WHATWG "maximal subpart" rule, on truncated sequences, surrogates, overlongs, bytes never
/// valid in UTF-8 and code points past U+10FFFF.
#[test]
fn invalid_utf8_is_replaced_as_pythons_decode_replaces_it() {
    let cases: &[&[u8]] = &[
        b"an\xffly",
        b"\xc0\xaf",
        b"\xe0\x80\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xf0\x80\x80\x80",
        b"\xe2\x82",
        b"\xe2\x82 a",
        b"\xf0\x9f\x98",
        b"\xf0\x9f\x98\x80",
        b"\x80\xbf\xc3",
        b"\xed\x9f\xbf",
        b"\xfe\xff",
        b"\xf8\x88\x80\x80\x80",
        b"\xe2\xff\xac",
        b"\xf0\x90\x8d",
        b"",
    ];
    let python = python_decoded(cases);
    for (case, py) in cases.iter().zip(&python) {
        assert_eq!(&String::from_utf8_lossy(case), py, "{case:x?}");
    }
}

/// Hex of `bytes`, as an SQL BLOB literal's digits.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text that is not UTF-8 (`CAST(x'..' AS TEXT)`) and BLOBs (`x'..'`) in the newer release's
/// `Run` columns, its tasks' titles and its runs' metadata, on a board its own code made and
/// worked: `/runs/{id}` answers each run as the owner's own route does, key for key and
/// character for character; every read route answers 200 with every row.
#[test]
fn rows_the_newer_release_tolerates_answer_as_its_own_route_does() {
    let Some(python) = iot_python("rows_the_newer_release_tolerates_answer_as_its_own_route_does")
    else {
        return;
    };
    let mut d = Dispatcher::start(&python, "newer-tolerated");
    let live = d.spawn("Index the archive", &["sleep", "1000"], true);
    let ended = d.spawn("Summarise the backlog", &["sleep", "1000"], true);
    let unreadable = d.spawn("Tag the releases", &["sleep", "1000"], false);
    for w in [&live, &ended, &unreadable] {
        d.settled(w, "sleep");
    }
    d.complete(&ended);
    d.complete(&unreadable);
    let w = d.writer();
    let metadata =
        b"{\"exit_code\": 75, \"exit_kind\": \"rate_limited\", \"note\": \"quota \xff\"}";
    w.execute_batch(&format!(
        "UPDATE task_runs SET profile = CAST(x'616eff6c79' AS TEXT), step_key = x'ff00',
                summary = x'{}', error = CAST(x'c0af' AS TEXT),
                metadata = CAST(x'{}' AS TEXT)
         WHERE id = {live};
         UPDATE task_runs SET profile = x'{}', outcome = CAST(x'636f6d706c65746564e282' AS TEXT),
                claim_lock = CAST(x'766dff3a31' AS TEXT), summary = CAST(x'f09f9880' AS TEXT),
                error = x'edbfbf', metadata = x'{}'
         WHERE id = {ended};
         UPDATE task_runs SET metadata = x'0102', summary = x'ff' WHERE id = {unreadable};
         UPDATE tasks SET title = CAST(x'496e646578ff' AS TEXT) WHERE id = '{task}';",
        hex("€ done".as_bytes()),
        hex(b"{\"a\": \"\xe2\x82\"}"),
        hex(b"analyst\xf0\x9f\x98"),
        hex(metadata),
        live = live.run,
        ended = ended.run,
        unreadable = unreadable.run,
        task = live.task,
    ))
    .unwrap();
    let server = Server::start(&d.board);
    for run in [live.run, ended.run, unreadable.run] {
        let (status, ours) = server.get_json(&format!("/runs/{run}"));
        assert_eq!(status, 200, "{ours}");
        let (owner_status, owner) = d.owner_get(&format!("/runs/{run}"));
        assert_eq!(owner_status, 200, "{owner}");
        let mut ours = ours["run"].clone();
        ours.as_object_mut()
            .unwrap()
            .shift_remove("worker_started_at");
        assert_eq!(keys(&ours), keys(&owner["run"]));
        assert_eq!(ours, owner["run"]);
    }
    let (_, body) = server.get_json(&format!("/runs/{}", live.run));
    let run = &body["run"];
    assert_eq!(
        (
            &run["profile"],
            &run["step_key"],
            &run["summary"],
            &run["error"]
        ),
        (
            &json!("an\u{fffd}ly"),
            &json!("\u{fffd}\u{0}"),
            &json!("€ done"),
            &json!("\u{fffd}\u{fffd}")
        )
    );
    assert_eq!(run["metadata"], json!({"a": "\u{fffd}"}));
    let (_, body) = server.get_json(&format!("/runs/{}", ended.run));
    assert_eq!(
        body["run"]["metadata"],
        json!({"exit_code": 75, "exit_kind": "rate_limited", "note": "quota \u{fffd}"})
    );
    let (_, body) = server.get_json(&format!("/runs/{}", unreadable.run));
    assert_eq!(
        (&body["run"]["metadata"], &body["run"]["summary"]),
        (&Value::Null, &json!("\u{fffd}"))
    );
    every_read_route_answers_every_row(&server, &mut d, &live, &ended);
    // The newer release reads an ISO-8601 `ended_at` too: following the run's log sees the run
    // ended, and the stream ends.
    w.execute(
        "UPDATE task_runs SET ended_at = '2026-12-07T07:00:00Z' WHERE id = ?1",
        [ended.run],
    )
    .unwrap();
    let follow = server.get(&format!("/runs/{}/log?follow=1", ended.run));
    let text = String::from_utf8_lossy(&follow.body);
    assert_eq!(follow.status, 200, "{text}");
    assert!(
        text.contains("event: end\ndata: {\"reason\":\"the run has ended\"}\n\n"),
        "{text}"
    );
}

/// Every read route over the board of [`rows_the_newer_release_tolerates_answer_as_its_own_route_does`]:
/// 200, each row there, the text as the owner decodes it.
fn every_read_route_answers_every_row(
    server: &Server,
    d: &mut Dispatcher,
    live: &super::Spawned,
    ended: &super::Spawned,
) {
    let (status, active) = server.get_json("/workers/active");
    assert_eq!(status, 200, "{active}");
    let (_, owner) = d.owner_get("/workers/active");
    assert_eq!(active["count"], 1, "{active}");
    for key in ["run_id", "task_title", "profile", "worker_pid"] {
        assert_eq!(active["workers"][0][key], owner["workers"][0][key], "{key}");
    }
    assert_eq!(active["workers"][0]["task_title"], "Index\u{fffd}");
    let (status, live_list) = server.get_json("/workers/active?live=1");
    assert_eq!(status, 200, "{live_list}");
    let worker = &live_list["workers"][0];
    assert_eq!(
        (&worker["run_id"], &worker["profile"], &worker["alive"]),
        (&json!(live.run), &json!("an\u{fffd}ly"), &json!(true)),
        "{worker}"
    );
    let (status, inspect) = server.get_json(&format!("/runs/{}/inspect", live.run));
    assert_eq!(
        (status, &inspect["alive"]),
        (200, &json!(true)),
        "{inspect}"
    );
    let (status, inspect) = server.get_json(&format!("/runs/{}/inspect", ended.run));
    assert_eq!(status, 200, "{inspect}");
    assert_eq!(
        inspect,
        json!({"run_id": ended.run, "alive": false, "exit_code": 75,
               "exit_kind": "rate_limited", "reason": "run already ended"})
    );
    let (status, lingering) = server.get_json("/workers/lingering");
    assert_eq!(status, 200, "{lingering}");
    assert_eq!(lingering["lingering"][0]["pid"], ended.pid, "{lingering}");
    let (status, endings) = server.get_json("/runs/endings");
    assert_eq!((status, &endings["count"]), (200, &json!(2)), "{endings}");
    let ending = endings["endings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["run_id"] == ended.run)
        .unwrap();
    assert_eq!(
        (
            &ending["run_id"],
            &ending["profile"],
            &ending["outcome"],
            &ending["error"]
        ),
        (
            &json!(ended.run),
            &json!("analyst\u{fffd}"),
            &json!("completed\u{fffd}"),
            &json!("\u{fffd}\u{fffd}\u{fffd}")
        ),
        "{ending}"
    );
    let (status, processes) = server.get_json(&format!("/runs/{}/processes", live.run));
    assert_eq!(
        (status, &processes["count"]),
        (200, &json!(1)),
        "{processes}"
    );
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("profile=\"an\u{fffd}ly\""), "{text}");
    let page: Value = server.get_json("/workers/history").1;
    assert_eq!(page["count"], 1, "{page}");
}

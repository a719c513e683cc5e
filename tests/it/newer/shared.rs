//! One board shared by two containers of the same host name (#111386,
//! `kanban.dispatch_profiles`): the newer release's dispatcher on this host, and another in a
//! container on the same kernel (a pid namespace of its own with its own /proc: `unshare`),
//! both claiming on one board file. The claims name the same host; the fingerprints carry
//! each one's instantiation (the boot id both share, and each one's own pid 1). A shim on
//! either side must see its own workers as this host's and the other's as another host's:
//! never read (the pid means another process here), never offered to terminate or reclaim,
//! their claimer never looked for here.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::{Dispatcher, Spawned};
use crate::common::*;

const TOKEN: &str = "shared-board-token";

/// The shim serving the default board of `kanban`, run by `cmd` (the binary, or a command
/// that runs it in the container), with a token for terminate.
fn serve(mut cmd: Command, kanban: &Path) -> Server {
    let token = kanban.join(format!("token-{}", std::process::id()));
    std::fs::write(&token, TOKEN).unwrap();
    for var in [
        "HERMES_KANBAN_DB",
        "HERMES_HOME",
        "HERMES_KANBAN_BOARD",
        "KANBAN_WORKERS_HOSTNAME",
        "KANBAN_WORKERS_MACHINE_ID",
        "HERMES_MACHINE_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HERMES_KANBAN_HOME", kanban)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--history",
            "0",
        ])
        .arg("--token-file")
        .arg(&token);
    Server::spawn(cmd, "serving board")
}

/// The shim, run in the container whose pid 1 is `pid1` (its pid namespace and its /proc).
fn in_container(pid1: i64) -> Command {
    let mut enter = Command::new("nsenter");
    enter
        .arg("--target")
        .arg(pid1.to_string())
        .args(["--pid", "--mount", "--"])
        .arg(shim_bin());
    enter
}

/// The process whose parent is `parent` (the container's pid 1, child of `unshare`).
fn child_of(parent: i64) -> i64 {
    let ppid = |pid: i64| -> Option<i64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
    };
    let children: Vec<i64> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| ppid(*p) == Some(parent))
        .collect();
    assert_eq!(children.len(), 1, "{children:?}");
    children[0]
}

/// The instantiation this host's or the container's pid 1 gives (`<boot_id>:<its start
/// ticks>`), as the owner's fingerprints begin.
fn epoch_of(pid1: i64) -> String {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    // Field 22 (starttime) is element 19 of what follows the command name.
    format!("{}:{}", boot_id.trim(), stat_fields(pid1)[19])
}

/// The worker of `run` in a shim's `?live=1` answer.
fn worker(live: &Value, run: i64) -> Value {
    live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["run_id"] == run)
        .unwrap_or_else(|| panic!("run {run} not listed: {live}"))
        .clone()
}

/// What a shim says of its own side's worker: this host's, read, verified by its fingerprint.
fn assert_ours(live: &Value, w: &Spawned, side: &str) {
    let got = worker(live, w.run);
    assert_eq!(
        (
            &got["local"],
            &got["alive"],
            &got["identity"],
            &got["terminate_offer"]
        ),
        (
            &json!(true),
            &json!(true),
            &json!("verified"),
            &json!("terminate")
        ),
        "{side}: {got}"
    );
}

/// What a shim says of the other side's worker: another host's, nothing read or offered, its
/// claimer not looked for; the note names both instantiations.
fn assert_theirs(live: &Value, w: &Spawned, theirs: &str, ours: &str, side: &str) {
    let got = worker(live, w.run);
    assert_eq!(
        (
            &got["local"],
            &got["alive"],
            &got["verdict"],
            &got["terminate_offer"],
            &got["claimer_alive"],
            &got["status"]
        ),
        (
            &json!(false),
            &Value::Null,
            &json!("remote"),
            &Value::Null,
            &Value::Null,
            &Value::Null
        ),
        "{side}: {got}"
    );
    let reason = got["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("worker runs on another machine: ")
            && reason.contains(theirs)
            && reason.contains(ours),
        "{side}: {reason}"
    );
}

/// The two sides of one board: this host's worker and the container's, each side's
/// instantiation, and the container's pid 1.
struct Sides<'a> {
    kanban: &'a Path,
    board: &'a rusqlite::Connection,
    ours: &'a Spawned,
    theirs: &'a Spawned,
    host_epoch: &'a str,
    box_epoch: &'a str,
    box_pid1: i64,
}

impl Sides<'_> {
    /// A shim on each side: its own worker read and verified, the other side's another
    /// host's, and terminate refusing it (409: nothing signalled, the claim kept).
    fn each_sees_its_own(&self, when: &str) {
        let status_of = |task: &str| -> String {
            self.board
                .query_row("SELECT status FROM tasks WHERE id = ?1", [task], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        let sides = [
            (
                Command::new(shim_bin()),
                self.ours,
                self.theirs,
                self.box_epoch,
                self.host_epoch,
            ),
            (
                in_container(self.box_pid1),
                self.theirs,
                self.ours,
                self.host_epoch,
                self.box_epoch,
            ),
        ];
        for (i, (cmd, own, other, other_epoch, own_epoch)) in sides.into_iter().enumerate() {
            let side = format!("{} ({when})", ["on the host", "in the container"][i]);
            let shim = serve(cmd, self.kanban);
            let (status, live) = shim.get_json("/workers/active?live=1");
            assert_eq!(status, 200, "{live}");
            assert_ours(&live, own, &side);
            assert_theirs(&live, other, other_epoch, own_epoch, &side);
            let (_, inspect) = shim.get_json(&format!("/runs/{}/inspect", other.run));
            assert_eq!(inspect["local"], false, "{side}: {inspect}");
            let r = shim.post(&format!("/runs/{}/terminate", other.run), "{}", Some(TOKEN));
            assert_eq!(r.status, 409, "{side}: {:?}", r.json());
            assert_eq!(status_of(&other.task), "running", "{side}");
        }
        assert!(alive(self.ours.pid));
    }
}

#[test]
#[ignore = "needs root"]
fn a_same_named_containers_workers_are_never_this_hosts() {
    let test = "a_same_named_containers_workers_are_never_this_hosts";
    let Some(python) = super::iot_python(test) else {
        return;
    };
    require_root();
    let mut host = Dispatcher::start(&python, "newer-shared-host");
    let kanban = host.root.path().to_path_buf();
    // The container: a pid namespace and a /proc of its own, the same host name and kernel.
    let mut unshare = Command::new("unshare");
    unshare
        .args(["--pid", "--fork", "--mount-proc", "--"])
        .arg(&python);
    let mut container = Dispatcher::start_in(unshare, temp_dir("newer-shared-box"), &kanban);
    let box_pid1 = child_of(i64::from(container.child.id()));

    let ours = host.spawn("On the host", &["sleep", "1000"], true);
    host.settled(&ours, "sleep");
    let theirs = container.spawn("In the container", &["sleep", "1000"], false);
    // Both claims name this host, by the same name; the fingerprints differ in pid 1.
    let hostname = local_hostname();
    let w = host.writer();
    let lock = |run: i64| -> String {
        w.query_row(
            "SELECT claim_lock FROM task_runs WHERE id = ?1",
            [run],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(lock(ours.run).starts_with(&format!("{hostname}:")));
    assert_eq!(
        lock(theirs.run),
        format!("{hostname}:1"),
        "the container's pid 1 claims"
    );
    let (host_epoch, box_epoch) = (epoch_of(1), epoch_of(box_pid1));
    assert!(ours.fingerprint.starts_with(&format!("{host_epoch}|")));
    assert!(theirs.fingerprint.starts_with(&format!("{box_epoch}|")));
    assert_ne!(host_epoch, box_epoch);
    let sides = Sides {
        kanban: &kanban,
        board: &w,
        ours: &ours,
        theirs: &theirs,
        host_epoch: &host_epoch,
        box_epoch: &box_epoch,
        box_pid1,
    };
    sides.each_sees_its_own("by the claims' host name");

    // The kanban root is shared, so is its machine id: both runs stamped with it (the
    // distributed workers' column) are this machine's by their stamp, and still each side's
    // own by their fingerprint alone.
    let machine = "7d9e2c41-5a0b-4c3f-8e6d-1f2a3b4c5d6e";
    std::fs::create_dir_all(kanban.join("kanban")).unwrap();
    std::fs::write(kanban.join("kanban/machine-id"), format!("{machine}\n")).unwrap();
    w.execute_batch(&format!(
        "ALTER TABLE task_runs ADD COLUMN machine_id TEXT;
         UPDATE task_runs SET machine_id = '{machine}';"
    ))
    .unwrap();
    sides.each_sees_its_own("one machine id");
    drop(container);
}

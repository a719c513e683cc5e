//! `kanban-workers hermes install|uninstall`: write (or remove) the Hermes dashboard plugin
//! whose Workers tab shows this board's workers (docs/hermes.md). The plugin's files live in
//! `hermes/` at the repository's root and are embedded here; install adds `shim.json` (this
//! binary's absolute path) and a record of what it wrote, and uninstall removes exactly what
//! the record names. Nothing else of the user's Hermes files is touched: enabling the plugin
//! is the owner's own `hermes plugins enable kanban-workers`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The plugin's name: its folder, its manifest's name, its routes' prefix.
pub const PLUGIN: &str = "kanban-workers";
/// The record install leaves in the plugin's folder: the files it wrote, one a line.
pub const RECORD: &str = ".kanban-workers-install";
/// The line of the record saying install also created `<HERMES_HOME>/plugins`.
const CREATED_PLUGINS: &str = "# created the plugins folder";
/// The file holding the binary the plugin's backend runs.
const SHIM_JSON: &str = "dashboard/shim.json";

/// The embedded files, by their path inside the plugin's folder.
pub const FILES: &[(&str, &str)] = &[
    ("plugin.yaml", include_str!("../../hermes/plugin.yaml")),
    (
        "dashboard/manifest.json",
        include_str!("../../hermes/dashboard/manifest.json"),
    ),
    (
        "dashboard/plugin_api.py",
        include_str!("../../hermes/dashboard/plugin_api.py"),
    ),
    (
        "dashboard/dist/index.js",
        include_str!("../../hermes/dashboard/dist/index.js"),
    ),
    (
        "dashboard/dist/style.css",
        include_str!("../../hermes/dashboard/dist/style.css"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Uninstall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub action: Action,
    /// `--hermes-home`.
    pub home: Option<PathBuf>,
}

/// The rest of `kanban-workers hermes ...`, after the word `hermes`.
pub fn parse(parser: &mut lexopt::Parser) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut action = None;
    let mut home = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if action.is_none() && v == "install" => action = Some(Action::Install),
            Value(v) if action.is_none() && v == "uninstall" => action = Some(Action::Uninstall),
            Long("hermes-home") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let v = v.into_string().map_err(|v| {
                    format!(
                        "--hermes-home: '{}' is not valid UTF-8",
                        v.to_string_lossy()
                    )
                })?;
                home = Some(PathBuf::from(v));
            }
            Value(v) => {
                return Err(format!(
                    "hermes: unexpected argument '{}' (install or uninstall; see --help)",
                    v.to_string_lossy()
                ));
            }
            other => return Err(format!("hermes: {} (see --help)", other.unexpected())),
        }
    }
    let action = action.ok_or("hermes: say install or uninstall (see --help)")?;
    Ok(Args { action, home })
}

/// HERMES_HOME: the flag, else `$HERMES_HOME`, else `~/.hermes`.
pub fn hermes_home(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if let Some(home) = &args.home {
        return Ok(home.clone());
    }
    if let Some(home) = env("HERMES_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(Path::new(&home).join(".hermes")),
        None => Err("no HERMES_HOME and no HOME: pass --hermes-home PATH".to_owned()),
    }
}

/// Run the action; the message to print, or why nothing was done.
pub fn run(
    args: &Args,
    env: &dyn Fn(&str) -> Option<String>,
    exe: &Path,
) -> Result<String, String> {
    let home = hermes_home(args, env)?;
    if !home.is_dir() {
        return Err(format!(
            "HERMES_HOME {} does not exist or is not a folder (is Hermes installed? pass \
             --hermes-home PATH or set $HERMES_HOME); nothing written",
            home.display()
        ));
    }
    match args.action {
        Action::Install => install(&home, exe),
        Action::Uninstall => uninstall(&home),
    }
}

/// What install writes: the embedded files and shim.json (the binary's absolute path).
fn contents(exe: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let bin = exe
        .to_str()
        .ok_or_else(|| format!("the binary's path {} is not valid UTF-8", exe.display()))?;
    let mut files: Vec<(&str, String)> = FILES.iter().map(|(p, c)| (*p, (*c).to_owned())).collect();
    files.push((
        SHIM_JSON,
        format!("{}\n", serde_json::json!({ "bin": bin })),
    ));
    Ok(files)
}

/// The record of an earlier install in `dir`: the files it wrote and whether it created the
/// plugins folder. None when there is no record.
fn read_record(dir: &Path) -> Result<Option<(Vec<String>, bool)>, String> {
    let path = dir.join(RECORD);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        Ok(m) if !m.file_type().is_file() => {
            return Err(format!(
                "{} is not a regular file; nothing done",
                path.display()
            ));
        }
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let created = text.lines().any(|l| l == CREATED_PLUGINS);
    let files = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    Ok(Some((files, created)))
}

/// Every file and link under `dir`, relative to it, with `/` between the parts.
fn entries(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
        let list =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in list {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Python's bytecode of the backend, written by the dashboard when it imports plugin_api.py:
/// the one kind of file the plugin's folder gains that install did not write.
fn is_bytecode(rel: &str) -> bool {
    rel.strip_prefix("dashboard/__pycache__/plugin_api.")
        .is_some_and(|rest| rest.ends_with(".pyc") && !rest.contains('/'))
}

/// The files in `dir` that neither the record nor Python's bytecode of the backend explains.
fn foreign(dir: &Path, recorded: &[String]) -> Result<Vec<String>, String> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|rel| rel != RECORD && !recorded.contains(rel) && !is_bytecode(rel))
        .collect())
}

fn refuse_foreign(dir: &Path, foreign: &[String], what: &str) -> String {
    format!(
        "{} holds files `kanban-workers hermes install` did not write ({}); {what}",
        dir.display(),
        foreign.join(", ")
    )
}

fn install(home: &Path, exe: &Path) -> Result<String, String> {
    let plugins = home.join("plugins");
    let dir = plugins.join(PLUGIN);
    let mut created_plugins = false;
    match std::fs::metadata(&plugins) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{} is not a folder; nothing written",
                plugins.display()
            ));
        }
        Err(_) => created_plugins = true,
    }
    let files = contents(exe)?;
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "{} exists and is not a folder; nothing written",
                dir.display()
            ));
        }
        Ok(_) => {
            let (recorded, created) = read_record(&dir)?.unwrap_or_default();
            let extra = foreign(&dir, &recorded)?;
            if !extra.is_empty() {
                return Err(refuse_foreign(&dir, &extra, "nothing written"));
            }
            created_plugins = created;
        }
        Err(_) => {}
    }
    let mkdir = |d: &Path| {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))
    };
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        write_file(&path, text)?;
    }
    let mut record = String::from(
        "# Written by `kanban-workers hermes install`; `kanban-workers hermes uninstall` \
         removes exactly these.\n",
    );
    if created_plugins {
        record.push_str(CREATED_PLUGINS);
        record.push('\n');
    }
    for (rel, _) in &files {
        record.push_str(rel);
        record.push('\n');
    }
    write_file(&dir.join(RECORD), &record)?;
    Ok(format!(
        "Installed the Workers tab (a Hermes dashboard plugin) into {}.\n\
         Its backend runs {} (set $KANBAN_WORKERS_BIN to run another).\n\
         Left to do:\n  \
           1. hermes plugins enable {PLUGIN}\n  \
           2. restart the dashboard (hermes dashboard); the tab is at /workers\n",
        dir.display(),
        exe.display()
    ))
}

/// Write `text` to `path` (0644), replacing an earlier file of ours.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)
}

fn uninstall(home: &Path) -> Result<String, String> {
    let plugins = home.join("plugins");
    let dir = plugins.join(PLUGIN);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{} is not a folder; nothing removed",
                dir.display()
            ));
        }
        Err(_) => {
            return Err(format!(
                "{} does not exist: nothing to uninstall",
                dir.display()
            ));
        }
    }
    let Some((recorded, created_plugins)) = read_record(&dir)? else {
        return Err(format!(
            "{} has no {RECORD}: it was not written by `kanban-workers hermes install`; \
             nothing removed",
            dir.display()
        ));
    };
    let extra = foreign(&dir, &recorded)?;
    if !extra.is_empty() {
        return Err(refuse_foreign(&dir, &extra, "nothing removed"));
    }
    let remove = |p: &Path| match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", p.display()))
        }
        _ => Ok(()),
    };
    for rel in entries(&dir)? {
        if rel != RECORD {
            remove(&dir.join(rel))?;
        }
    }
    remove(&dir.join(RECORD))?;
    // The folders install made, deepest first; each must now be empty.
    for sub in ["dashboard/dist", "dashboard/__pycache__", "dashboard", ""] {
        let d = dir.join(sub);
        if d.is_dir() {
            std::fs::remove_dir(&d).map_err(|e| format!("cannot remove {}: {e}", d.display()))?;
        }
    }
    if created_plugins {
        // Only when nothing else was put there since.
        let _ = std::fs::remove_dir(&plugins);
    }
    Ok(format!(
        "Removed {}.\nThe dashboard's config.yaml still lists it in plugins.enabled: run \
         `hermes plugins disable {PLUGIN}` if you like, then restart the dashboard.\n",
        dir.display()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn args(action: Action, home: Option<&Path>) -> Args {
        Args {
            action,
            home: home.map(Path::to_path_buf),
        }
    }
    const EXE: &str = "/opt/kw/bin/kanban-workers";

    fn all_files(home: &Path) -> Vec<String> {
        entries(home).unwrap()
    }

    /// Install writes exactly the plugin's files (and its record) into
    /// <HERMES_HOME>/plugins/kanban-workers, shim.json naming the binary; uninstall leaves
    /// the home exactly as it was, the dashboard's bytecode of the backend included.
    #[test]
    fn install_writes_exactly_the_files_and_uninstall_removes_exactly_them() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.yaml"), "plugins: {}\n").unwrap();
        let before = all_files(home.path());
        let no_env = |_: &str| None;
        let said = run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        assert!(
            said.contains("hermes plugins enable kanban-workers"),
            "{said}"
        );
        assert!(said.contains("restart the dashboard"), "{said}");
        let dir = home.path().join("plugins/kanban-workers");
        let mut expected: Vec<String> = FILES
            .iter()
            .map(|(p, _)| format!("plugins/kanban-workers/{p}"))
            .collect();
        expected.push("plugins/kanban-workers/dashboard/shim.json".into());
        expected.push(format!("plugins/kanban-workers/{RECORD}"));
        expected.push("config.yaml".into());
        expected.sort();
        assert_eq!(all_files(home.path()), expected);
        for (rel, text) in FILES {
            assert_eq!(std::fs::read_to_string(dir.join(rel)).unwrap(), *text);
        }
        let shim: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(SHIM_JSON)).unwrap()).unwrap();
        assert_eq!(shim["bin"], EXE);
        let manifest: serde_json::Value = serde_json::from_str(FILES[1].1).unwrap();
        assert_eq!(manifest["name"], PLUGIN);
        assert_eq!(manifest["tab"]["path"], "/workers");
        assert_eq!(manifest["tab"]["position"], "after:kanban");
        assert!(FILES[0].1.contains("name: kanban-workers"));
        // Again (an upgrade): the same files, nothing refused.
        run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        assert_eq!(all_files(home.path()), expected);
        // The dashboard's import of the backend leaves bytecode: uninstall takes it too.
        std::fs::create_dir(dir.join("dashboard/__pycache__")).unwrap();
        std::fs::write(
            dir.join("dashboard/__pycache__/plugin_api.cpython-311.pyc"),
            "x",
        )
        .unwrap();
        let said = run(
            &args(Action::Uninstall, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        assert!(said.contains("Removed"), "{said}");
        assert_eq!(all_files(home.path()), before);
        assert!(
            !home.path().join("plugins").exists(),
            "the plugins folder install made"
        );
        // A plugins folder that was there stays.
        std::fs::create_dir(home.path().join("plugins")).unwrap();
        run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        run(
            &args(Action::Uninstall, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        assert!(home.path().join("plugins").is_dir());
        assert!(!dir.exists());
    }

    /// HERMES_HOME is the flag, else $HERMES_HOME, else ~/.hermes.
    #[test]
    fn hermes_home_is_the_flag_else_the_environment_else_home() {
        let flag = tempfile::tempdir().unwrap();
        let envd = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        std::fs::create_dir(user.path().join(".hermes")).unwrap();
        let e = envd.path().to_str().unwrap().to_owned();
        let u = user.path().to_str().unwrap().to_owned();
        let both = |k: &str| match k {
            "HERMES_HOME" => Some(e.clone()),
            "HOME" => Some(u.clone()),
            _ => None,
        };
        let only_home = |k: &str| (k == "HOME").then(|| u.clone());
        let install = |home: Option<&Path>, env: &dyn Fn(&str) -> Option<String>| {
            run(&args(Action::Install, home), env, Path::new(EXE)).unwrap()
        };
        install(Some(flag.path()), &both);
        install(None, &both);
        install(None, &only_home);
        for root in [flag.path(), envd.path(), &user.path().join(".hermes")] {
            assert!(
                root.join("plugins/kanban-workers/plugin.yaml").is_file(),
                "{root:?}"
            );
        }
        assert!(!user.path().join("plugins").exists());
    }

    /// A HERMES_HOME that does not exist, and a plugin folder holding files install did not
    /// write, are refused with a message saying so, and nothing is written or removed.
    #[test]
    fn refuses_a_missing_home_and_a_folder_it_did_not_write() {
        let no_env = |_: &str| None;
        let home = tempfile::tempdir().unwrap();
        let missing = home.path().join("nope");
        for action in [Action::Install, Action::Uninstall] {
            let e = run(&args(action, Some(&missing)), &no_env, Path::new(EXE)).unwrap_err();
            assert!(
                e.contains("does not exist") && e.contains("--hermes-home"),
                "{e}"
            );
        }
        assert!(!missing.exists());
        // Nothing there: nothing to uninstall.
        let e = run(
            &args(Action::Uninstall, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap_err();
        assert!(e.contains("nothing to uninstall"), "{e}");
        // Someone else's plugin of that name.
        let dir = home.path().join("plugins/kanban-workers");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plugin.yaml"), "name: kanban-workers\n").unwrap();
        let e = run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap_err();
        assert!(e.contains("did not write (plugin.yaml)"), "{e}");
        let e = run(
            &args(Action::Uninstall, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap_err();
        assert!(e.contains("not written by"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.join("plugin.yaml")).unwrap(),
            "name: kanban-workers\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // Ours, plus a file the user added: both refused, nothing removed.
        run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        std::fs::write(dir.join("dashboard/notes.txt"), "mine").unwrap();
        let before = all_files(home.path());
        for action in [Action::Uninstall, Action::Install] {
            let e = run(&args(action, Some(home.path())), &no_env, Path::new(EXE)).unwrap_err();
            assert!(e.contains("did not write (dashboard/notes.txt)"), "{e}");
            assert_eq!(all_files(home.path()), before);
        }
    }

    #[test]
    fn parses_the_subcommand() {
        let p = |v: &[&str]| parse(&mut lexopt::Parser::from_args(v.iter().copied()));
        assert_eq!(p(&["install"]).unwrap(), args(Action::Install, None));
        assert_eq!(
            p(&["uninstall", "--hermes-home", "/h"]).unwrap(),
            args(Action::Uninstall, Some(Path::new("/h")))
        );
        assert!(p(&[]).unwrap_err().contains("install or uninstall"));
        assert!(
            p(&["remove"])
                .unwrap_err()
                .contains("unexpected argument 'remove'")
        );
        assert!(p(&["install", "--db", "x"]).is_err());
    }
}

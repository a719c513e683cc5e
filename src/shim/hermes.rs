//! `kanban-workers hermes install|uninstall`: write (or remove) the Hermes dashboard plugin
//! whose Workers tab shows this board's workers (docs/hermes.md), into `<HERMES_HOME>/plugins/`
//! and, when HERMES_HOME is a profile's, into the Hermes root's `plugins/` too (where the newer
//! releases' dashboards look: the machine dashboard, and a profile-scoped one after its own
//! folder; 0.19.0's profile-scoped dashboard reads the profile's alone). The plugin's files live in
//! `hermes/` at the repository's root and are embedded here; install adds `shim.json` (this
//! binary's absolute path) and a record of what it wrote. Nothing else of the user's Hermes
//! files is touched: enabling the plugin is the owner's own `hermes plugins enable
//! kanban-workers`.
//!
//! A Hermes home is written by its owner's agents, who may plant a link anywhere in it or swap
//! a folder for one while this runs (SECURITY.md, "hermes install"). So:
//! - only the home's owner may run them: a caller whose effective uid is not the owner of the
//!   home is refused (root included: `sudo -u <owner> kanban-workers hermes install`), so
//!   whatever the home's files make this do, their owner could do alone;
//! - the home (the operator's choice: the flag, `$HERMES_HOME`, `~/.hermes`) is resolved once
//!   (its links followed), then walked from `/` without following a link and checked, on its
//!   descriptor, to be a folder of the caller's; nothing is then named by path again: each
//!   folder beneath is opened from the one before's descriptor (`O_NOFOLLOW | O_DIRECTORY`)
//!   and checked on its own descriptor (a folder, the caller's); every descriptor, walk,
//!   listing, write and removal is `crate::shim::beneath::Dir`'s, the one walk of every
//!   path found on a board;
//! - everything in the plugin's folder is looked at (without following links) before the
//!   first write or removal: a link, or a file or folder of another owner, anywhere on the way
//!   is refused with its path, as is a file install does not write (someone else's plugin of
//!   that name, a file added since);
//! - files are written to a new temporary name (`O_CREAT | O_EXCL | O_NOFOLLOW`) and renamed
//!   into place (`renameat`), never written through an existing name;
//! - only the fixed names install writes (and the fixed names of the dashboard's bytecode of
//!   the backend) are removed, with `unlinkat` from their folder's descriptor; never a name a
//!   record file or a folder's listing gives (a listing only decides to refuse).

use std::io::Read;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::shim::beneath::{Dir, Refused};

/// The plugin's name: its folder, its manifest's name, its routes' prefix.
pub(crate) const PLUGIN: &str = "kanban-workers";
/// The record install leaves in the plugin's folder: the files it wrote, one a line.
pub(crate) const RECORD: &str = ".kanban-workers-install";
/// The line of the record saying install also created `<HERMES_HOME>/plugins`.
const CREATED_PLUGINS: &str = "# created the plugins folder";
/// The file holding the binary the plugin's backend runs.
const SHIM_JSON: &str = "dashboard/shim.json";
/// The folder of the dashboard's bytecode of the backend (made by Python, not by install).
const PYCACHE: &str = "dashboard/__pycache__";
/// The folders install makes in the plugin's folder, parents first.
const FOLDERS: &[&str] = &["dashboard", "dashboard/dist"];
/// The largest record read (install writes well under 1 KiB).
const RECORD_MAX: u64 = 64 * 1024;

/// The embedded files, by their path inside the plugin's folder.
pub(crate) const FILES: &[(&str, &str)] = &[
    ("plugin.yaml", include_str!("../../hermes/plugin.yaml")),
    (
        "dashboard/manifest.json",
        include_str!("../../hermes/dashboard/manifest.json"),
    ),
    (
        "dashboard/plugin_api.py",
        include_str!("../../hermes/dashboard/plugin_api.py"),
    ),
    // The tab's script, with the control room's logic it shares with the shim's page at its
    // head (one source: src/shim/answer/control.js).
    (
        "dashboard/dist/index.js",
        concat!(
            include_str!("answer/control.js"),
            "\n",
            include_str!("../../hermes/dashboard/dist/index.js")
        ),
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
pub(crate) fn hermes_home(
    args: &Args,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, String> {
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
    let uid = rustix::process::geteuid().as_raw();
    let caller = Caller {
        uid,
        nothing: match args.action {
            Action::Install => "nothing written",
            Action::Uninstall => "nothing removed",
        },
    };
    let home = caller.home(&home, args.action, "HERMES_HOME")?;
    // A profile's home: the Hermes root's plugins too, where the newer releases' dashboards,
    // profile-scoped or not, also look (#87197).
    let mut homes = vec![home];
    if let Some(root) = hermes_root(homes[0].path(), env) {
        homes.push(caller.home(&root, args.action, "the Hermes root of HERMES_HOME")?);
    }
    match args.action {
        Action::Install => install(&caller, &homes, exe),
        Action::Uninstall => uninstall(&caller, &homes),
    }
}

/// The Hermes root of the home `home` (its real path) when that is another folder: as the
/// owner's `get_default_hermes_root` derives it (hermes-agent 0.20+), `~/.hermes` for a home
/// under it (`~/.hermes/profiles/<name>`), `<x>` for `<x>/profiles/<name>`, else the home
/// itself (`None`). A profile-scoped dashboard of the newer releases reads the root's
/// `plugins/` after its own; 0.19.0's reads its own alone.
pub(crate) fn hermes_root(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let native = env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".hermes"))
        .map(|n| std::fs::canonicalize(&n).unwrap_or(n));
    let root = match native {
        Some(native) if home.starts_with(&native) => native,
        _ => match home.parent() {
            Some(profiles) if profiles.file_name().is_some_and(|n| n == "profiles") => {
                profiles.parent()?.to_path_buf()
            }
            _ => return None,
        },
    };
    (root != home).then_some(root)
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

/// `rel` (a path inside the plugin's folder) as its folder and its name.
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// The names of the files install writes in the plugin's folder `folder` ("" for the
/// plugin's own): the only names it replaces, and (with the bytecode's) the only ones
/// uninstall removes.
fn written_in(folder: &str) -> Vec<&'static str> {
    FILES
        .iter()
        .map(|(rel, _)| *rel)
        .chain([SHIM_JSON, RECORD])
        .filter(|rel| split(rel).0 == folder)
        .map(|rel| split(rel).1)
        .collect()
}

/// The folders in the plugin's folder that install makes or the dashboard's Python does.
fn is_known_folder(rel: &str) -> bool {
    FOLDERS.contains(&rel) || rel == PYCACHE
}

/// The names Python gives its bytecode of `plugin_api.py` in `__pycache__`
/// (`plugin_api.<cache tag>[.opt-N].pyc`, CPython's and PyPy's 3.x tags): a fixed list, the
/// only names uninstall removes there.
fn bytecode_names() -> impl Iterator<Item = String> {
    ["cpython-3", "pypy3"]
        .into_iter()
        .flat_map(|implementation| {
            (0..100).flat_map(move |minor| {
                ["", ".opt-1", ".opt-2"]
                    .into_iter()
                    .map(move |opt| format!("plugin_api.{implementation}{minor}{opt}.pyc"))
            })
        })
}

/// Python's bytecode of the backend, written by the dashboard when it imports plugin_api.py:
/// the one kind of file the plugin's folder gains that install did not write.
fn is_bytecode(name: &str) -> bool {
    name.starts_with("plugin_api.") && bytecode_names().any(|n| n == name)
}

/// Who runs this (the home's owner, the only owner allowed on the way) and what the action
/// does not do when it refuses ("nothing written", "nothing removed"): how what [`Dir`]
/// refuses is said.
struct Caller {
    uid: u32,
    nothing: &'static str,
}

impl Caller {
    /// The home: resolved once (the operator's choice), walked from `/` without following a
    /// link, a folder the caller owns.
    fn home(&self, home: &Path, action: Action, what: &str) -> Result<Dir, String> {
        let missing = || {
            format!(
                "{what} {} does not exist or is not a folder (is Hermes installed? pass \
                 --hermes-home PATH or set $HERMES_HOME); {}",
                home.display(),
                self.nothing
            )
        };
        let real = std::fs::canonicalize(home).map_err(|_| missing())?;
        let dir = Dir::open_resolved(&real).map_err(|r| match r {
            Refused::Missing(_) | Refused::NotA(..) => missing(),
            r => self.refused(r),
        })?;
        let owner = dir.owner();
        if owner != self.uid {
            let (named, sudo) = match user_name(owner) {
                Some(name) => (format!(" ({name})"), name),
                None => (String::new(), format!("'#{owner}'")),
            };
            let verb = match action {
                Action::Install => "install",
                Action::Uninstall => "uninstall",
            };
            return Err(format!(
                "{what} {} is owned by uid {owner}{named}, and this runs as uid {}: only the \
                 home's owner may install or uninstall its plugins (its agents can write \
                 there); run it as the owner: sudo -u {sudo} kanban-workers hermes {verb} --hermes-home \
                 {}; {}",
                dir.path().display(),
                self.uid,
                dir.path().display(),
                self.nothing
            ));
        }
        Ok(dir)
    }

    /// The folder `name` in `parent`, opened without following a link and checked on its
    /// descriptor to be a folder of the caller's; None when nothing is there.
    fn folder(&self, parent: &Dir, name: &str) -> Result<Option<Dir>, String> {
        match parent.dir(Path::new(name), Some(self.uid)) {
            Ok(dir) => Ok(Some(dir)),
            Err(Refused::Missing(_)) => Ok(None),
            Err(r) => Err(self.refused(r)),
        }
    }

    /// The folder `name` in `parent`, made (0755) when missing, then opened as
    /// [`Self::folder`].
    fn make(&self, parent: &Dir, name: &str) -> Result<Dir, String> {
        parent
            .make_dir(name, 0o755, self.uid)
            .map_err(|r| self.say(r))
    }

    /// The record of an earlier install in the plugin's folder: whether it created the
    /// plugins folder. None when there is no record.
    fn record(&self, plugin: &Dir) -> Result<Option<bool>, String> {
        let file = match plugin.file(RECORD, self.uid) {
            Ok(file) => file,
            Err(Refused::Missing(_)) => return Ok(None),
            Err(r) => return Err(self.refused(r)),
        };
        let mut text = String::new();
        file.take(RECORD_MAX)
            .read_to_string(&mut text)
            .map_err(|e| {
                let path = plugin.path().join(RECORD);
                format!("cannot read {}: {e}; {}", path.display(), self.nothing)
            })?;
        Ok(Some(text.lines().any(|l| l == CREATED_PLUGINS)))
    }

    /// Everything in the plugin's folder, looked at without following a link: a link, or a
    /// file or folder of another owner, refused by its path; the folders install knows
    /// opened (by their path in the plugin's folder); and what install does not write (with a
    /// record; without one, everything there) returned as foreign.
    fn survey(&self, plugin: &Dir, recorded: bool) -> Result<Survey, String> {
        let mut survey = Survey::default();
        self.survey_in(plugin, "", recorded, &mut survey)?;
        Ok(survey)
    }

    fn survey_in(
        &self,
        dir: &Dir,
        rel: &str,
        recorded: bool,
        survey: &mut Survey,
    ) -> Result<(), String> {
        let mut names = Vec::new();
        for name in dir.names().map_err(|r| self.refused(r))? {
            match name.into_string() {
                Ok(name) => names.push(name),
                Err(name) => survey.foreign.push(join(rel, &name.to_string_lossy())),
            }
        }
        names.sort();
        let files = written_in(rel);
        for name in names {
            let here = join(rel, &name);
            let Some(st) = dir.stat_at(&name).map_err(|r| self.refused(r))? else {
                continue;
            };
            let path = dir.path().join(&name);
            let kind = FileType::from_raw_mode(st.st_mode);
            if kind == FileType::Symlink {
                return Err(self.refused(Refused::Link(path)));
            }
            if st.st_uid != self.uid {
                return Err(self.refused(Refused::Owner {
                    path,
                    uid: st.st_uid,
                    want: self.uid,
                }));
            }
            // Without a record nothing there is install's.
            let file = recorded
                && (files.contains(&name.as_str()) || (rel == PYCACHE && is_bytecode(&name)));
            let folder = recorded && is_known_folder(&here);
            match kind {
                FileType::Directory if folder => {
                    let Some(sub) = self.folder(dir, &name)? else {
                        continue;
                    };
                    self.survey_in(&sub, &here, recorded, survey)?;
                    survey.folders.push((here, sub));
                }
                FileType::Directory => survey.foreign.push(format!("{here}/")),
                FileType::RegularFile if file => {}
                _ => survey.foreign.push(here),
            }
        }
        Ok(())
    }

    /// What `r` says, in this command's words.
    fn say(&self, r: Refused) -> String {
        match r {
            Refused::Link(path) => format!(
                "{} is a symbolic link (not followed: install and uninstall never go through \
                 one)",
                path.display()
            ),
            Refused::Owner { path, uid, want } => format!(
                "{} is owned by uid {uid}, not by uid {want} (the Hermes home's owner, who runs \
                 this)",
                path.display()
            ),
            r => r.to_string(),
        }
    }

    /// `r` before the first write or removal: what was found, and that nothing was done.
    fn refused(&self, r: Refused) -> String {
        format!("{}; {}", self.say(r), self.nothing)
    }
}

/// What [`Caller::survey`] found.
#[derive(Default)]
struct Survey {
    /// The folders install knows, opened, by their path in the plugin's folder.
    folders: Vec<(String, Dir)>,
    /// What install did not write, by its path in the plugin's folder (a folder ends in `/`).
    foreign: Vec<String>,
}

impl Survey {
    fn take(&mut self, rel: &str) -> Option<Dir> {
        let at = self.folders.iter().position(|(r, _)| r == rel)?;
        Some(self.folders.remove(at).1)
    }
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// The user name of `uid` in /etc/passwd, for a message.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

fn refuse_foreign(dir: &Path, foreign: &[String], what: &str) -> String {
    format!(
        "{} holds files `kanban-workers hermes install` did not write ({}); {what}",
        dir.display(),
        foreign.join(", ")
    )
}

/// What install found in one home before writing anything there.
struct Plan {
    plugins: Option<Dir>,
    plugin: Option<Dir>,
    survey: Survey,
    created_plugins: bool,
}

fn install(caller: &Caller, homes: &[Dir], exe: &Path) -> Result<String, String> {
    let files = contents(exe)?;
    // Everything, in every home, is looked at before the first write.
    let plans = homes
        .iter()
        .map(|home| caller.plan(home))
        .collect::<Result<Vec<_>, _>>()?;
    let mut into = Vec::new();
    for (home, plan) in homes.iter().zip(plans) {
        into.push(put(caller, home, plan, &files)?);
    }
    let (also, root_too) = match (homes.get(1), into.get(1)) {
        (Some(root), Some(plugin)) => (
            format!(
                "\nand into {} (the Hermes root's plugins, where the newer releases' \
                 dashboards, profile-scoped or not, also look)",
                plugin.display()
            ),
            format!(
                "\n     and in the root too, for the newer releases' machine dashboard (one for \
                 every profile: it serves a plugin's routes only when its own home enables it):\n       \
                 HERMES_HOME={} hermes plugins enable {PLUGIN}",
                root.path().display()
            ),
        ),
        _ => (String::new(), String::new()),
    };
    Ok(format!(
        "Installed the Workers tab (a Hermes dashboard plugin) into {}{also}.\n\
         Its backend runs {} (set $KANBAN_WORKERS_BIN to run another).\n\
         Left to do:\n  \
           1. hermes plugins enable {PLUGIN}{root_too}\n  \
           2. restart the dashboard (hermes dashboard); the tab is at /workers\n",
        into[0].display(),
        exe.display()
    ))
}

impl Caller {
    /// The plugin's folder in `home` as it is: a folder of install's (its record) or none,
    /// nothing in it that install did not write.
    fn plan(&self, home: &Dir) -> Result<Plan, String> {
        let plugins = self.folder(home, "plugins")?;
        let mut created_plugins = plugins.is_none();
        let plugin = match &plugins {
            Some(p) => self.folder(p, PLUGIN)?,
            None => None,
        };
        let mut survey = Survey::default();
        if let Some(plugin) = &plugin {
            let record = self.record(plugin)?;
            survey = self.survey(plugin, record.is_some())?;
            if !survey.foreign.is_empty() {
                return Err(refuse_foreign(plugin.path(), &survey.foreign, self.nothing));
            }
            created_plugins = record.unwrap_or(false);
        }
        Ok(Plan {
            plugins,
            plugin,
            survey,
            created_plugins,
        })
    }
}

/// The plugin written into `home` as `plan` found it; the plugin's folder.
fn put(
    caller: &Caller,
    home: &Dir,
    plan: Plan,
    files: &[(&str, String)],
) -> Result<PathBuf, String> {
    let Plan {
        plugins,
        plugin,
        mut survey,
        created_plugins,
    } = plan;
    let plugins = match plugins {
        Some(p) => p,
        None => caller.make(home, "plugins")?,
    };
    let plugin = match plugin {
        Some(p) => p,
        None => caller.make(&plugins, PLUGIN)?,
    };
    // The record first: an install that stops half-way (an error, a kill) leaves a folder
    // that install can finish and uninstall can remove.
    plugin
        .write_new(RECORD, record(created_plugins, files).as_bytes(), 0o644)
        .map_err(|r| caller.say(r))?;
    write_files(caller, &plugin, &mut survey, files)?;
    Ok(plugin.path().to_path_buf())
}

/// The install's record: a line per file it writes (and one when it made `plugins/`), what
/// uninstall removes.
fn record(created_plugins: bool, files: &[(&str, String)]) -> String {
    let mut record = String::from(
        "# Written by `kanban-workers hermes install`; `kanban-workers hermes uninstall` \
         removes exactly these.\n",
    );
    if created_plugins {
        record.push_str(CREATED_PLUGINS);
        record.push('\n');
    }
    for (rel, _) in files {
        record.push_str(rel);
        record.push('\n');
    }
    record
}

/// The plugin's folders (those `survey` found, else made) and its files, each written new
/// beneath its folder's descriptor.
fn write_files(
    caller: &Caller,
    plugin: &Dir,
    survey: &mut Survey,
    files: &[(&str, String)],
) -> Result<(), String> {
    let mut folders: Vec<(&str, Dir)> = Vec::new();
    for rel in FOLDERS {
        let folder = match survey.take(rel) {
            Some(f) => f,
            None => {
                let (parent, name) = split(rel);
                let parent = folders
                    .iter()
                    .find(|(r, _)| *r == parent)
                    .map_or(plugin, |(_, f)| f);
                caller.make(parent, name)?
            }
        };
        folders.push((rel, folder));
    }
    for (rel, text) in files {
        let (parent, name) = split(rel);
        let folder = folders
            .iter()
            .find(|(r, _)| *r == parent)
            .map_or(plugin, |(_, f)| f);
        folder
            .write_new(name, text.as_bytes(), 0o644)
            .map_err(|r| caller.say(r))?;
    }
    Ok(())
}

/// An install found in one home, looked at before anything is removed.
struct Installed {
    plugins: Dir,
    plugin: Dir,
    survey: Survey,
    created_plugins: bool,
}

fn uninstall(caller: &Caller, homes: &[Dir]) -> Result<String, String> {
    // Everything, in every home, is looked at before the first removal.
    let mut found = Vec::new();
    for home in homes {
        if let Some(installed) = caller.installed(home)? {
            found.push((home, installed));
        }
    }
    if found.is_empty() {
        let places: Vec<String> = homes
            .iter()
            .map(|h| h.path().join("plugins").join(PLUGIN).display().to_string())
            .collect();
        let nor: String = places
            .iter()
            .skip(1)
            .map(|p| format!(", nor does {p}"))
            .collect();
        return Err(format!(
            "{} does not exist{nor}: nothing to uninstall",
            places.first().map_or("", String::as_str)
        ));
    }
    let mut removed = Vec::new();
    for (home, installed) in found {
        removed.push(remove(caller, home, installed)?);
    }
    Ok(format!(
        "Removed {}.\nThe dashboard's config.yaml still lists it in plugins.enabled: run \
         `hermes plugins disable {PLUGIN}` if you like, then restart the dashboard.\n",
        removed.join(" and ")
    ))
}

impl Caller {
    /// The install in `home`: None when there is no plugin's folder; refused when the folder
    /// has no record or holds what install did not write.
    fn installed(&self, home: &Dir) -> Result<Option<Installed>, String> {
        let Some(plugins) = self.folder(home, "plugins")? else {
            return Ok(None);
        };
        let Some(plugin) = self.folder(&plugins, PLUGIN)? else {
            return Ok(None);
        };
        let Some(created_plugins) = self.record(&plugin)? else {
            return Err(format!(
                "{} has no {RECORD}: it was not written by `kanban-workers hermes install`; \
                 nothing removed",
                plugin.path().display()
            ));
        };
        let survey = self.survey(&plugin, true)?;
        if !survey.foreign.is_empty() {
            return Err(refuse_foreign(plugin.path(), &survey.foreign, self.nothing));
        }
        Ok(Some(Installed {
            plugins,
            plugin,
            survey,
            created_plugins,
        }))
    }
}

/// The install found in `home` removed: the fixed names, from their folders' descriptors,
/// deepest folder first; each folder then removed from its parent's descriptor (only when
/// empty: a name there since makes it fail, and nothing else is removed). The plugin's
/// folder, as it was named.
fn remove(caller: &Caller, home: &Dir, installed: Installed) -> Result<String, String> {
    let Installed {
        plugins,
        plugin,
        mut survey,
        created_plugins,
    } = installed;
    let mut folders: Vec<&str> = FOLDERS.iter().copied().chain([PYCACHE]).collect();
    folders.sort_by_key(|rel| std::cmp::Reverse(rel.len()));
    let mut opened: Vec<(&str, Dir)> = Vec::new();
    for rel in folders {
        if let Some(folder) = survey.take(rel) {
            opened.push((rel, folder));
        }
    }
    for (rel, folder) in &opened {
        if *rel == PYCACHE {
            for name in bytecode_names() {
                folder.remove_file(&name).map_err(|r| caller.say(r))?;
            }
        } else {
            for name in written_in(rel) {
                folder.remove_file(name).map_err(|r| caller.say(r))?;
            }
        }
        let (parent, name) = split(rel);
        let parent = opened
            .iter()
            .find(|(r, _)| *r == parent)
            .map_or(&plugin, |(_, f)| f);
        parent.remove_dir(name).map_err(|r| caller.say(r))?;
    }
    for name in written_in("") {
        if name != RECORD {
            plugin.remove_file(name).map_err(|r| caller.say(r))?;
        }
    }
    plugin.remove_file(RECORD).map_err(|r| caller.say(r))?;
    plugins.remove_dir(PLUGIN).map_err(|r| caller.say(r))?;
    if created_plugins {
        // Only when nothing else was put there since.
        let _ = home.remove_dir("plugins");
    }
    Ok(plugin.path().display().to_string())
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

    /// Every file and link under `root` (links as `name -> target`, never followed), relative
    /// to it: what the tests compare before and after.
    fn all_files(root: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let m = std::fs::symlink_metadata(&path).unwrap();
                if m.file_type().is_symlink() {
                    let to = std::fs::read_link(&path).unwrap();
                    out.push(format!("{rel} -> {}", to.display()));
                } else if m.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    /// A folder standing for a root-only one (`/root`, `/etc/...`): what it holds, with
    /// each file's text, so that a file rewritten, added or removed there shows.
    fn snapshot(dir: &Path) -> Vec<(String, String)> {
        all_files(dir)
            .into_iter()
            .map(|rel| {
                let text = std::fs::read_to_string(dir.join(&rel)).unwrap();
                (rel, text)
            })
            .collect()
    }

    fn victim() -> tempfile::TempDir {
        let v = tempfile::tempdir().unwrap();
        for name in ["manifest.json", "index.js", "style.css", "plugin.yaml"] {
            std::fs::write(v.path().join(name), format!("root's {name}\n")).unwrap();
        }
        std::fs::create_dir(v.path().join("dist")).unwrap();
        std::fs::write(v.path().join("dist/index.js"), "root's dist/index.js\n").unwrap();
        v
    }

    /// Add `lines` to the record of the install in `dir`, as an agent who can write there
    /// can.
    fn forge_record(dir: &Path, lines: &[&str]) {
        let path = dir.join(RECORD);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    /// Install into a home where a folder on the plugin's way is a link (planted by the
    /// agents who own the home: `dashboard -> /root-only`, `plugins -> /root-only`), with or
    /// without a forged record naming it: refused, with a message naming the link, and nothing
    /// is written in the link's target nor anywhere in the home.
    #[test]
    fn install_writes_nothing_through_a_planted_link() {
        let no_env = |_: &str| None;
        let install = |home: &Path| {
            run(&args(Action::Install, Some(home)), &no_env, Path::new(EXE)).unwrap_err()
        };
        // dashboard -> the victim, the record forged to name it (else it is an unknown file).
        for forged in [true, false] {
            let home = tempfile::tempdir().unwrap();
            let target = victim();
            let before_target = snapshot(target.path());
            let dir = home.path().join("plugins/kanban-workers");
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(target.path(), dir.join("dashboard")).unwrap();
            if forged {
                forge_record(&dir, &["dashboard"]);
            }
            let before = all_files(home.path());
            let e = install(home.path());
            assert!(
                e.contains("plugins/kanban-workers/dashboard") && e.contains("symbolic link"),
                "forged {forged}: {e}"
            );
            assert!(e.contains("nothing written"), "{e}");
            assert_eq!(snapshot(target.path()), before_target, "forged {forged}");
            assert_eq!(all_files(home.path()), before, "forged {forged}");
        }
        // plugins -> the victim: nothing created there.
        let home = tempfile::tempdir().unwrap();
        let target = victim();
        let before_target = snapshot(target.path());
        std::os::unix::fs::symlink(target.path(), home.path().join("plugins")).unwrap();
        let e = install(home.path());
        assert!(e.contains("plugins") && e.contains("symbolic link"), "{e}");
        assert_eq!(snapshot(target.path()), before_target);
        // The plugin's folder itself a link, and a file of ours a link (to the victim's).
        for (name, to) in [("", "."), ("plugin.yaml", "plugin.yaml")] {
            let home = tempfile::tempdir().unwrap();
            let target = victim();
            let before_target = snapshot(target.path());
            let plugins = home.path().join("plugins");
            std::fs::create_dir(&plugins).unwrap();
            if name.is_empty() {
                std::os::unix::fs::symlink(target.path(), plugins.join(PLUGIN)).unwrap();
            } else {
                std::fs::create_dir(plugins.join(PLUGIN)).unwrap();
                std::os::unix::fs::symlink(target.path().join(to), plugins.join(PLUGIN).join(name))
                    .unwrap();
                forge_record(&plugins.join(PLUGIN), &[name]);
            }
            let e = install(home.path());
            assert!(e.contains("symbolic link"), "{name:?}: {e}");
            assert_eq!(snapshot(target.path()), before_target, "{name:?}");
        }
    }

    /// Uninstall where a folder of the installed plugin was replaced by a link to a folder
    /// holding files of the names install writes (`dashboard/dist -> /root-only`), the record
    /// forged to name the link: refused with a message naming it, and nothing is removed, in
    /// the link's target or in the plugin.
    #[test]
    fn uninstall_removes_nothing_through_a_linked_subfolder() {
        let no_env = |_: &str| None;
        let home = tempfile::tempdir().unwrap();
        run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        let dir = home.path().join("plugins/kanban-workers");
        let target = victim();
        let before_target = snapshot(target.path());
        std::fs::remove_dir_all(dir.join("dashboard/dist")).unwrap();
        std::os::unix::fs::symlink(target.path(), dir.join("dashboard/dist")).unwrap();
        forge_record(&dir, &["dashboard/dist"]);
        let before = all_files(home.path());
        let e = run(
            &args(Action::Uninstall, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap_err();
        assert!(
            e.contains("plugins/kanban-workers/dashboard/dist") && e.contains("symbolic link"),
            "{e}"
        );
        assert!(e.contains("nothing removed"), "{e}");
        assert_eq!(snapshot(target.path()), before_target);
        assert_eq!(all_files(home.path()), before);
    }

    /// The attack as it was found: the agents swap `dashboard/dist` for a link to a root-only
    /// folder and back (`renameat2(RENAME_EXCHANGE)`, in a loop) while root installs and
    /// uninstalls. The folder's files (named as install's) are never removed nor rewritten,
    /// and nothing is added there. Before: root removed the link target's `index.js` within a
    /// few runs.
    #[test]
    fn a_subfolder_swapped_for_a_link_mid_run_reaches_nothing_behind_it() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let no_env = |_: &str| None;
        let home = tempfile::tempdir().unwrap();
        run(
            &args(Action::Install, Some(home.path())),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        let dir = home.path().join("plugins/kanban-workers");
        let target = victim();
        let before_target = snapshot(target.path());
        // The link waits beside the home (in a folder of the agents' own), swapped in and out.
        let spare = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(target.path(), spare.path().join("dist")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = Arc::clone(&stop);
            let a = dir.join("dashboard/dist");
            let b = spare.path().join("dist");
            let to = target.path().to_path_buf();
            std::thread::spawn(move || {
                let is_link = |p: &Path| {
                    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
                };
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // A link removed (uninstall before this fix took it, as a file it listed)
                    // is planted again.
                    if !is_link(&a) && !is_link(&b) {
                        let _ = std::fs::remove_dir_all(&b);
                        let _ = std::os::unix::fs::symlink(&to, &b);
                    }
                    let exchanged = rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &a,
                        rustix::fs::CWD,
                        &b,
                        rustix::fs::RenameFlags::EXCHANGE,
                    );
                    if exchanged.is_ok() {
                        swaps += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
                swaps
            })
        };
        let started = std::time::Instant::now();
        let mut runs = 0;
        let mut reached = None;
        while started.elapsed() < std::time::Duration::from_secs(2) {
            for action in [Action::Uninstall, Action::Install] {
                let said = run(&args(action, Some(home.path())), &no_env, Path::new(EXE));
                runs += 1;
                // An install stopped half-way without its record (as the code before this
                // fix left one) is cleared by hand, as its owner would, and tried again.
                if said.is_err_and(|e| e.contains("not written by")) {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
            if snapshot(target.path()) != before_target {
                reached = Some(runs);
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(swaps > 0, "the swapper never swapped");
        let changed: Vec<String> = {
            let now = snapshot(target.path());
            let mut said: Vec<String> = before_target
                .iter()
                .filter(|f| !now.contains(f))
                .map(|(rel, _)| match now.iter().any(|(r, _)| r == rel) {
                    true => format!("{rel} rewritten"),
                    false => format!("{rel} removed"),
                })
                .collect();
            said.extend(
                now.iter()
                    .filter(|(rel, _)| !before_target.iter().any(|(r, _)| r == rel))
                    .map(|(rel, _)| format!("{rel} added")),
            );
            said
        };
        assert_eq!(
            reached, None,
            "the link's target was changed after {runs} runs ({swaps} swaps): {changed:?}"
        );
        assert_eq!(snapshot(target.path()), before_target);
    }

    /// A home another user owns (the agents', while this runs as root) is refused, install
    /// and uninstall alike, with a message saying to run as its owner; nothing is written or
    /// removed. So is a folder or file of another owner inside the caller's own plugin.
    #[test]
    #[ignore = "needs root"]
    fn refuses_a_home_or_a_plugin_file_of_another_owner() {
        assert!(
            rustix::process::geteuid().is_root(),
            "needs root (chown to nobody): run it as root (make test does)"
        );
        const NOBODY: u32 = 65534;
        let no_env = |_: &str| None;
        let go = |action, home: &Path| run(&args(action, Some(home)), &no_env, Path::new(EXE));
        // Nobody's empty home: install refused, nothing written.
        let home = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(home.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        let e = go(Action::Install, home.path()).unwrap_err();
        assert!(
            e.contains("owned by uid 65534") && e.contains("sudo -u"),
            "{e}"
        );
        assert!(e.contains("nothing written"), "{e}");
        assert_eq!(all_files(home.path()), Vec::<String>::new());
        // A plugin installed there earlier (the home chowned after): uninstall refused too.
        let home = tempfile::tempdir().unwrap();
        go(Action::Install, home.path()).unwrap();
        std::os::unix::fs::chown(home.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        let before = all_files(home.path());
        for action in [Action::Uninstall, Action::Install] {
            let e = go(action, home.path()).unwrap_err();
            assert!(e.contains("owned by uid 65534"), "{e}");
            assert_eq!(all_files(home.path()), before);
        }
        // The home is ours, a folder or a file in the plugin is nobody's.
        for rel in [
            "plugins",
            "plugins/kanban-workers/dashboard",
            "plugins/kanban-workers/dashboard/manifest.json",
        ] {
            let home = tempfile::tempdir().unwrap();
            go(Action::Install, home.path()).unwrap();
            std::os::unix::fs::chown(home.path().join(rel), Some(NOBODY), Some(NOBODY)).unwrap();
            let before = all_files(home.path());
            for action in [Action::Uninstall, Action::Install] {
                let e = go(action, home.path()).unwrap_err();
                assert!(
                    e.contains(rel) && e.contains("owned by uid 65534"),
                    "{rel}: {e}"
                );
                assert_eq!(all_files(home.path()), before, "{rel}");
            }
        }
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

    /// The Hermes root of a home is the owner's `get_default_hermes_root`: `~/.hermes` for a
    /// home under it, `<x>` for `<x>/profiles/<name>`, none for the root itself.
    #[test]
    fn the_root_of_a_profile_is_the_owners() {
        let user = tempfile::tempdir().unwrap();
        let user = std::fs::canonicalize(user.path()).unwrap();
        std::fs::create_dir_all(user.join(".hermes/profiles/work")).unwrap();
        let u = user.to_str().unwrap().to_owned();
        let env = |k: &str| (k == "HOME").then(|| u.clone());
        let no_env = |_: &str| None;
        let native = user.join(".hermes");
        assert_eq!(
            hermes_root(&native.join("profiles/work"), &env),
            Some(native.clone())
        );
        assert_eq!(
            hermes_root(&native.join("anything"), &env),
            Some(native.clone())
        );
        assert_eq!(hermes_root(&native, &env), None);
        let custom = Path::new("/srv/h");
        assert_eq!(
            hermes_root(&custom.join("profiles/ops"), &no_env),
            Some(custom.to_path_buf())
        );
        assert_eq!(hermes_root(custom, &no_env), None);
        assert_eq!(hermes_root(Path::new("/opt/data"), &env), None);
    }

    /// A profile's home gets the plugin in its own `plugins/` (0.19.0's profile-scoped
    /// dashboard and the profile's `hermes plugins enable` look there) and in the Hermes
    /// root's (where the newer releases' dashboards, profile-scoped or not, look too);
    /// uninstall removes both, and either refused refuses both before anything is written or
    /// removed.
    #[test]
    fn a_profiles_install_goes_into_the_profile_and_the_root() {
        let no_env = |_: &str| None;
        let root = tempfile::tempdir().unwrap();
        let profile = root.path().join("profiles/work");
        std::fs::create_dir_all(&profile).unwrap();
        let go = |action| run(&args(action, Some(&profile)), &no_env, Path::new(EXE));
        let said = go(Action::Install).unwrap();
        let in_root = root.path().join("plugins/kanban-workers");
        let in_profile = profile.join("plugins/kanban-workers");
        assert!(said.contains(&in_root.display().to_string()), "{said}");
        let mut expected: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        expected.extend([SHIM_JSON.to_owned(), RECORD.to_owned()]);
        expected.sort();
        for dir in [&in_root, &in_profile] {
            assert_eq!(all_files(dir), expected, "{dir:?}");
        }
        // Uninstall: both, and the plugins folders install made.
        let said = go(Action::Uninstall).unwrap();
        assert!(said.contains("Removed"), "{said}");
        assert_eq!(all_files(root.path()), Vec::<String>::new());
        assert!(!root.path().join("plugins").exists() && profile.is_dir());
        // Someone else's plugin of that name in the root: nothing written in the profile
        // either, nothing removed. Then an install in the profile alone (as earlier versions
        // made it): uninstall takes it.
        std::fs::create_dir_all(&in_root).unwrap();
        std::fs::write(in_root.join("plugin.yaml"), "name: kanban-workers\n").unwrap();
        let e = go(Action::Install).unwrap_err();
        assert!(e.contains("did not write (plugin.yaml)"), "{e}");
        assert!(!profile.join("plugins").exists());
        let e = go(Action::Uninstall).unwrap_err();
        assert!(e.contains("not written by"), "{e}");
        std::fs::remove_dir_all(root.path().join("plugins")).unwrap();
        run(
            &args(Action::Install, Some(&profile)),
            &no_env,
            Path::new(EXE),
        )
        .unwrap();
        std::fs::remove_dir_all(root.path().join("plugins")).unwrap();
        let said = go(Action::Uninstall).unwrap();
        assert!(said.contains(&in_profile.display().to_string()), "{said}");
        assert_eq!(all_files(root.path()), Vec::<String>::new());
        // Nothing anywhere: both places named.
        let e = go(Action::Uninstall).unwrap_err();
        assert!(
            e.contains("nothing to uninstall") && e.contains(&in_root.display().to_string()),
            "{e}"
        );
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

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The house's layers, read from the `use` lines and paths of the source: imports go one way.
//! - The library: the /proc readers (`src/proc/`) know nothing of SQLite or of the SQL
//!   surface; the SQL functions and views (`src/surface/`) know nothing of the shim.
//! - The shim's rooms, lowest first: the shared errors and helpers (`shim::ApiError`,
//!   `beneath`, `log`, `process`), `board`, `sample`, then `answer` and `terminate` beside
//!   each other, `http`, and the entry points (`demo`, `hermes`, `cli`, `start`). A room
//!   imports only rooms below it: no circle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)]` module (tests may reach anywhere) and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\n#[allow") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names reached as `<prefix><name>` in `code`, and as `use <prefix>{a, b::c}` groups.
fn reached(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// A shim room's rank (a room imports only lower ranks); `None` for what is not a room (the
/// shim's own items, `ApiError` and `shown`: rank 0).
fn rank(room: &str) -> usize {
    match room {
        "beneath" | "log" | "process" => 0,
        "board" => 1,
        "sample" => 2,
        "answer" | "terminate" | "fleet" => 3,
        "http" => 4,
        "demo" | "hermes" => 5,
        "cli" => 6,
        "start" => 7,
        _ => 0,
    }
}

/// The room of a file under `src/shim/`: its folder, or its own name.
fn room_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn the_shims_rooms_import_only_rooms_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shim");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let room = room_of(rel);
        if room == "mod" {
            continue;
        }
        let code = code(file);
        for to in reached(&code, "crate::shim::") {
            if to != room && rank(&to) >= rank(&room) {
                wrong.push(format!("{} ({room}) imports {to}", rel.display()));
            }
        }
        // Within a room, `super::` stays inside it.
        if code.contains("super::super::") {
            wrong.push(format!("{}: super::super:: leaves its room", rel.display()));
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
    // Every room is ranked (a new one must be placed).
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let room = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let room = room.trim_end_matches(".rs");
        assert!(
            room == "mod"
                || [
                    "beneath",
                    "log",
                    "process",
                    "board",
                    "sample",
                    "answer",
                    "terminate",
                    "fleet",
                    "http",
                    "demo",
                    "hermes",
                    "cli",
                    "start"
                ]
                .contains(&room),
            "src/shim/{room} has no place in the layers: rank it in tests/it/layers.rs"
        );
    }
}

#[test]
fn the_proc_readers_know_nothing_of_sqlite_and_the_sql_layer_nothing_of_the_shim() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut readers = Vec::new();
    rust_files(&src.join("proc"), &mut readers);
    for path in &readers {
        let code = code(path);
        let name = path.strip_prefix(&src).unwrap().display().to_string();
        if code.contains("rusqlite") {
            wrong.push(format!("src/{name} (a /proc reader) uses rusqlite"));
        }
        for to in reached(&code, "crate::").iter().filter(|t| *t != "proc") {
            wrong.push(format!("src/{name} (a /proc reader) imports {to}"));
        }
    }
    let mut surface = Vec::new();
    rust_files(&src.join("surface"), &mut surface);
    for path in &surface {
        let code = code(path);
        let name = path.strip_prefix(&src).unwrap().display().to_string();
        let reached = reached(&code, "crate::");
        for bad in ["shim", "hyper", "tokio"] {
            if reached.contains(bad) || code.contains(&format!("{bad}::")) {
                wrong.push(format!("src/{name} (the SQL surface) uses {bad}"));
            }
        }
    }
    assert!(
        readers.len() >= 4 && surface.len() >= 10,
        "the layers' folders moved"
    );
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

/// The longest a function may be, in lines from its `fn` to its closing brace (issue 26).
const FUNCTION_MAX_LINES: usize = 80;

/// Every function of `src/` and `server/src/` outside its `#[cfg(test)]` modules, as rustfmt
/// lays it out: from a line that declares a `fn` with a body to the line that closes it at the
/// same indentation.
/// (name, file, first line, lines).
fn functions() -> Vec<(String, PathBuf, usize, usize)> {
    let mut files = Vec::new();
    for dir in ["src", "server/src"] {
        rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
    }
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let indent = |l: &str| l.len() - l.trim_start().len();
        let closes = |l: &str, at: usize| l.trim_end() == format!("{}}}", " ".repeat(at));
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            // A test module: skipped to its end.
            if line.trim() == "#[cfg(test)]" {
                let mut j = i + 1;
                while j < lines.len() && lines[j].trim_start().starts_with("#[") {
                    j += 1;
                }
                let at = lines.get(j).map_or(0, |l| indent(l));
                while j < lines.len() && !closes(lines[j], at) {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let fn_at = words.iter().position(|w| *w == "fn");
            let declares = fn_at.is_some_and(|k| {
                words[..k].iter().all(|w| {
                    ["pub", "async", "unsafe", "const", "extern"].contains(w)
                        || w.starts_with("pub(")
                })
            });
            // A declaration without a body (a trait's method), its signature on one line or
            // several, ends with `;` before any `{`.
            let bodiless = declares && !line.contains('{') && {
                let mut k = i;
                while k < lines.len()
                    && !lines[k].trim_end().ends_with('{')
                    && !lines[k].trim_end().ends_with(';')
                {
                    k += 1;
                }
                lines.get(k).is_some_and(|l| l.trim_end().ends_with(';'))
            };
            if declares && !bodiless {
                let name: String = words[fn_at.unwrap() + 1]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let at = indent(line);
                let mut j = i;
                while j < lines.len() && !closes(lines[j], at) {
                    j += 1;
                }
                out.push((name, path.clone(), i + 1, j + 1 - i));
            }
            i += 1;
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let all = functions();
    assert!(all.len() > 200, "found only {} functions", all.len());
    let long: Vec<String> = all
        .iter()
        .filter(|(_, _, _, n)| *n > FUNCTION_MAX_LINES)
        .map(|(name, path, line, n)| {
            let rel = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(path);
            format!("{}:{line} {name}: {n} lines", rel.display())
        })
        .collect();
    assert!(
        long.is_empty(),
        "functions over {FUNCTION_MAX_LINES} lines (split them):\n{}",
        long.join("\n")
    );
}

/// The library's users get the SQL functions and views, not the shim: without features, the
/// library's dependencies (from the lockfile, through `cargo tree`) hold no tokio and no
/// hyper; the binary's package asks for `server`, and gets them (issue 26).
#[test]
fn the_library_alone_brings_no_tokio_and_no_hyper() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |package: &str| {
        let out = std::process::Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "-e",
                "normal",
                "--prefix",
                "none",
                "-p",
                package,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect::<BTreeSet<String>>()
    };
    let library = tree("kanban-workers");
    assert!(library.contains("rusqlite") && library.contains("procfs"));
    for shim_only in ["tokio", "hyper", "hyper-util"] {
        assert!(
            !library.contains(shim_only),
            "the library's default build depends on {shim_only}"
        );
    }
    let binary = tree("kanban-workers-server");
    assert!(binary.contains("tokio") && binary.contains("hyper"));
}

/// Inside each of the shim's folders too, imports go one way: the files of a folder (its
/// `super::x` and `crate::shim::<folder>::x` imports) form no circle.
#[test]
fn no_folder_of_the_shim_imports_in_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shim");
    let mut circles = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        rust_files(&folder, &mut files);
        let module = |p: &Path| {
            let rel = p.strip_prefix(&folder).unwrap();
            rel.components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        };
        let modules: BTreeSet<String> = files.iter().map(|f| module(f)).collect();
        let mut edges: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for file in &files {
            let from = module(file);
            if from == "mod" {
                continue;
            }
            let code = code(file);
            let mut to = reached(&code, "super::");
            to.extend(reached(&code, &format!("crate::shim::{name}::")));
            to.retain(|t| *t != from && *t != "mod" && modules.contains(t));
            edges.entry(from).or_default().extend(to);
        }
        // A circle: a module that reaches itself.
        for start in edges.keys() {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<&String> = edges[start].iter().collect();
            while let Some(m) = stack.pop() {
                if m == start {
                    circles.push(format!("{name}/{start}"));
                    break;
                }
                if seen.insert(m.clone()) {
                    stack.extend(edges.get(m).into_iter().flatten());
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import themselves through others: {circles:?}"
    );
}

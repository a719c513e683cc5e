#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every registered SQL function, view and column is documented in `docs/sql.md` and exercised
//! by a test; what the library registers is exactly what it declares; the README's links to
//! the docs lead somewhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kanban_workers::{FUNCTIONS, surface::views::VIEWS};
use rusqlite::Connection;

const SQL_DOCS: &str = include_str!("../../docs/sql.md");
/// The columns live_workers repeats from active_workers.
const ACTIVE_WORKERS: &[&str] = &crate::common::ACTIVE_WORKERS_COLUMNS;
const README: &str = include_str!("../../README.md");

fn names(conn: &Connection, sql: &str) -> BTreeSet<String> {
    conn.prepare(sql)
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
        .expect("list names")
}

#[test]
fn registered_functions_are_exactly_the_declared_ones() {
    let plain = Connection::open_in_memory().expect("db");
    let ours = Connection::open_in_memory().expect("db");
    kanban_workers::register(&ours).expect("register");
    let functions = "SELECT DISTINCT name FROM pragma_function_list";
    let modules = "SELECT name FROM pragma_module_list";
    // pragma_* modules appear once a pragma function has been used (installing the views
    // reads pragma_table_info): SQLite's own, not ours.
    let added: BTreeSet<String> = names(&ours, functions)
        .difference(&names(&plain, functions))
        .chain(names(&ours, modules).difference(&names(&plain, modules)))
        .filter(|name| !name.starts_with("pragma_"))
        .cloned()
        .collect();
    let declared: BTreeSet<String> = FUNCTIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(added, declared);
    let views = names(
        &ours,
        "SELECT name FROM sqlite_temp_schema WHERE type = 'view'",
    );
    let declared: BTreeSet<String> = VIEWS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(views, declared);
}

#[test]
fn every_function_view_and_column_is_documented() {
    for name in FUNCTIONS.iter().chain(VIEWS.iter().map(|(n, _)| n)) {
        assert!(
            SQL_DOCS.contains(&format!("\n## `{name}")),
            "docs/sql.md has no section for {name}"
        );
    }
    assert!(
        SQL_DOCS.contains(&format!(
            "| `depth` | INTEGER | {} |",
            kanban_workers::surface::proc_tree::DEPTH_DOC
        )),
        "docs/sql.md's proc_tree table lacks depth"
    );
    // Each column's row, exactly as the library describes it (its `Column`).
    let rows = |function: &str, columns: Vec<(&str, &str, &str)>| {
        for (name, sql_type, doc) in columns {
            let row = format!("| `{name}` | {sql_type} | {doc} |");
            assert!(
                SQL_DOCS.contains(&row),
                "docs/sql.md's {function} table lacks the row {row}"
            );
        }
    };
    rows(
        "proc_stats",
        kanban_workers::surface::process_row::COLUMNS
            .iter()
            .map(|c| (c.name, c.sql_type, c.doc))
            .collect(),
    );
    rows(
        "proc_marks",
        kanban_workers::surface::proc_marks::COLUMNS
            .iter()
            .map(|c| (c.name, c.sql_type, c.doc))
            .collect(),
    );
    for (function, columns) in [
        ("proc_cgroup", kanban_workers::surface::proc_cgroup::COLUMNS),
        ("proc_scope", kanban_workers::surface::proc_scope::COLUMNS),
    ] {
        rows(
            function,
            columns
                .iter()
                .map(|c| (c.name, c.sql_type, c.doc))
                .collect(),
        );
    }
    rows(
        "proc_spawned",
        kanban_workers::surface::proc_spawned::COLUMNS
            .iter()
            .map(|c| (c.name, c.sql_type, c.doc))
            .collect(),
    );
    let conn = Connection::open_in_memory().expect("db");
    conn.execute_batch(include_str!("../../sql/kanban_schema.sql"))
        .expect("schema");
    kanban_workers::register(&conn).expect("register");
    let task_runs = names(&conn, "SELECT name FROM pragma_table_info('task_runs')");
    for (view, _) in VIEWS {
        let stmt = conn
            .prepare(&format!("SELECT * FROM {view}"))
            .expect("view");
        for col in stmt.column_names() {
            // live_workers documents the active_workers columns it repeats as one range,
            // run_claims the task_runs columns it repeats.
            if (*view == "live_workers" && ACTIVE_WORKERS.contains(&col))
                || (*view == "run_claims" && task_runs.contains(col))
            {
                continue;
            }
            assert!(
                SQL_DOCS.contains(&format!("| `{col}` |")),
                "docs/sql.md lacks {view}.{col}"
            );
        }
    }
}

/// Every test module of this binary (each `.rs` under `tests/it/` but this check and the
/// helpers in `common/`), as (path, source).
fn test_sources() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read tests/it") {
            let path = entry.expect("entry").path();
            let shown = path
                .strip_prefix(root)
                .expect("under the root")
                .display()
                .to_string();
            if path.is_dir() {
                if shown != "tests/it/common" {
                    walk(root, &path, out);
                }
            } else if shown.ends_with(".rs") && shown != file!() {
                out.push((shown, std::fs::read_to_string(&path).expect("read test")));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(root, &root.join("tests/it"), &mut out);
    out
}

/// The string literals of Rust source `src` (plain, raw and byte strings, as written: escapes
/// are kept), with comments and char literals skipped: a name that is only in a comment (or a
/// doc comment) is in none of them.
fn string_literals(src: &str) -> Vec<&str> {
    let b = src.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push(&src[start..i.min(b.len())]);
                i += 1;
            }
            // A char literal ('x', '"', '\''), or a lifetime ('a), which has no closing quote.
            b'\'' => {
                if b.get(i + 1) == Some(&b'\\') {
                    i += 3;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                    i += if b.get(i + 1 + len) == Some(&b'\'') {
                        len + 2
                    } else {
                        1
                    };
                }
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                if matches!(&src[start..i], "r" | "br") && b.get(i + hashes) == Some(&b'"') {
                    let from = i + hashes + 1;
                    let close = format!("\"{}", "#".repeat(hashes));
                    let to = src[from..].find(&close).map_or(src.len(), |n| from + n);
                    out.push(&src[from..to]);
                    i = to + close.len();
                }
                // `b"..."`: the next turn reads it as a plain string.
            }
            _ => i += 1,
        }
    }
    out
}

/// `name` is in `text` as a word of its own, not as part of a longer identifier.
fn has_word(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before
            .into_iter()
            .chain(after)
            .any(|c| c.is_alphanumeric() || c == '_')
    })
}

/// A string literal that is SQL: it has a statement's keyword (as the tests write them, in
/// capitals) as a word.
fn is_sql(literal: &str) -> bool {
    [
        "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "WITH", "PRAGMA",
    ]
    .iter()
    .any(|keyword| has_word(literal, keyword))
}

/// A name is exercised when a test module passes it to SQLite: it must be in an SQL string
/// literal of a test, not merely in a comment or an assertion's message.
#[test]
fn every_function_and_view_is_exercised_by_a_test() {
    let sources = test_sources();
    assert!(
        sources.len() >= 10,
        "{:?}",
        sources.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let sql: Vec<(&str, &str)> = sources
        .iter()
        .flat_map(|(path, text)| {
            string_literals(text)
                .into_iter()
                .map(move |l| (path.as_str(), l))
        })
        .filter(|(_, literal)| is_sql(literal))
        .collect();
    for name in FUNCTIONS.iter().chain(VIEWS.iter().map(|(n, _)| n)) {
        let used = sql.iter().find(|(_, literal)| has_word(literal, name));
        assert!(
            used.is_some(),
            "no test passes {name} to SQLite (in an SQL string literal)"
        );
    }
}

/// The scan above: what is in a comment, a doc comment or a char literal is not a string, and
/// raw, byte and escaped strings are read whole.
#[test]
fn the_exercised_check_sees_only_string_literals() {
    let src = r##"
        // SELECT * FROM in_a_line_comment
        /// SELECT in_a_doc_comment()
        /* SELECT * FROM in_a_block /* nested */ comment */
        fn f<'a>(x: &'a str) -> char { let _ = '"'; let _ = '\''; '\\' }
        let a = "SELECT \"quoted\" FROM plain";
        let b = r#"SELECT * FROM raw("x")"#;
        let c = b"SELECT byte";
        let d = "proc_stats is not SQL";
    "##;
    let literals = string_literals(src);
    assert_eq!(
        literals,
        [
            r#"SELECT \"quoted\" FROM plain"#,
            r#"SELECT * FROM raw("x")"#,
            "SELECT byte",
            "proc_stats is not SQL",
        ]
    );
    assert!(!literals.iter().any(|l| l.contains("comment")));
    assert!(is_sql(literals[0]) && !is_sql(literals[3]));
    assert!(has_word("SELECT * FROM proc_stats(1)", "proc_stats"));
    assert!(!has_word("SELECT * FROM proc_stats_x", "proc_stats"));
}

#[test]
fn the_readme_links_to_files_that_exist_and_stays_short() {
    let links: Vec<&str> = README
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| !target.starts_with("http"))
        .collect();
    for doc in ["docs/sql.md", "docs/http.md", "docs/design.md"] {
        assert!(links.contains(&doc), "README does not link {doc}");
    }
    for target in links {
        let path = format!("{}/{target}", env!("CARGO_MANIFEST_DIR"));
        assert!(
            std::path::Path::new(&path).is_file(),
            "README links {target}, which does not exist"
        );
    }
    assert!(
        README.len() < 8 * 1024,
        "README is {} bytes: move detail to docs/",
        README.len()
    );
}

#[test]
fn every_command_line_option_is_documented() {
    let http = include_str!("../../docs/http.md");
    let usage = kanban_workers::shim::cli::usage();
    let options: Vec<&str> = usage
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches([',', '.', ':', ')']))
        .collect();
    assert!(options.len() >= 10, "{options:?}");
    for option in options {
        assert!(
            http.contains(&format!("`{option}")),
            "docs/http.md does not document {option}"
        );
    }
}

/// Every route the usage lists is routed, and documented in docs/http.md under the same
/// method and path; and every route docs/http.md documents is in the usage.
#[test]
fn every_route_is_routed_listed_and_documented() {
    use kanban_workers::shim::http::routes::route;
    let http = include_str!("../../docs/http.md");
    let usage = kanban_workers::shim::cli::usage();
    let listed: Vec<(&str, &str)> = usage
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                (Some(m @ ("GET" | "POST")), Some(p)) if p.starts_with('/') => Some((m, p)),
                _ => None,
            }
        })
        .collect();
    assert!(listed.len() >= 6, "{listed:?}");
    for (method, path) in &listed {
        let concrete = path.replace("{run_id}", "1");
        assert!(
            route(method, &concrete, None).is_ok(),
            "{method} {path} is listed but not routed"
        );
        assert!(
            http.contains(&format!("`{method} {path}`")),
            "docs/http.md does not document {method} {path}"
        );
    }
    for line in http.lines() {
        for method in ["GET", "POST"] {
            if let Some(rest) = line
                .strip_prefix(&format!("| `{method} "))
                .or(line.strip_prefix(&format!("### `{method} ")))
            {
                let path = rest.split(['`', '?']).next().unwrap_or("");
                assert!(
                    listed.contains(&(method, path)),
                    "docs/http.md documents {method} {path}, which the usage does not list"
                );
            }
        }
    }
}

/// Every path of the project's files named in the docs (`src/...`, `tests/...`, `sql/...`, ...)
/// exists: a file that moves takes its mentions with it.
#[test]
fn every_project_path_named_in_the_docs_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<PathBuf> = [
        "README.md",
        "SECURITY.md",
        "RELIABILITY.md",
        "BENCHMARKS.md",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    let tops = [
        "src/",
        "tests/",
        "sql/",
        "benches/",
        "examples/",
        "hermes/",
        "python/",
    ];
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || "_-./*".contains(c)));
        // A glob (`sql/route_*.sql`) names no one file.
        let paths = words.filter(|w| tops.iter().any(|t| w.starts_with(t)) && !w.contains('*'));
        for word in paths {
            let named = word.trim_end_matches(['.', ',']);
            if !root.join(named).exists() {
                missing.push(format!("{}: {named}", doc.display()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "named in the docs, not in the project: {missing:#?}"
    );
}

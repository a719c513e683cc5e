#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every registered SQL function, view and column is documented in `docs/sql.md` and exercised
//! by a test; what the library registers is exactly what it declares; the README's links to
//! the docs lead somewhere.

use std::collections::BTreeSet;

use kanban_workers::{FUNCTIONS, proc_stats::COLUMNS, views::VIEWS};
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
            kanban_workers::proc_tree::DEPTH_DOC
        )),
        "docs/sql.md's proc_tree table lacks depth"
    );
    for (name, sql_type, doc) in kanban_workers::proc_marks::COLUMNS {
        let row = format!("| `{name}` | {sql_type} | {doc} |");
        assert!(
            SQL_DOCS.contains(&row),
            "docs/sql.md's proc_marks table lacks the row {row}"
        );
    }
    for c in COLUMNS {
        let row = format!("| `{}` | {} |", c.name, c.sql_type);
        assert!(
            SQL_DOCS.contains(&row),
            "docs/sql.md's proc_stats table lacks the row {row}"
        );
    }
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

#[test]
fn every_function_and_view_is_exercised_by_a_test() {
    let tests: String = [
        "tests/it/clients/extension.rs",
        "tests/it/clients/shells.rs",
        "tests/it/verdicts.rs",
    ]
    .iter()
    .map(|p| {
        std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).expect("read test")
    })
    .collect();
    for name in FUNCTIONS.iter().chain(VIEWS.iter().map(|(n, _)| n)) {
        assert!(tests.contains(name), "no test mentions {name}");
    }
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
    let options: Vec<&str> = kanban_workers::shim::config::USAGE
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

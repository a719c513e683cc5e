//! The routes' queries as they are run: each file of `sql/` without its comments, and each run
//! of blank space one space. rusqlite's statement cache finds a prepared statement by its text,
//! hashed, compared and copied a request at a time: `route_inspect.sql`, 3.5 KB with its
//! comments, cost about 7,000 instructions of a live run's `/inspect` that way (BENCHMARKS.md,
//! "fourth pass"). What SQLite runs is the same: only what it skips is gone.

/// A file of `sql/`, compacted ([`compact`]) the first time it is run.
macro_rules! sql_file {
    ($file:literal) => {
        std::sync::LazyLock::new(|| {
            $crate::shim::answer::sql::compact(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/sql/",
                $file
            )))
        })
    };
}
pub(crate) use sql_file;

/// `sql` without its comments (`-- …` to the line's end, `/* … */`), each run of blank space
/// (and each comment) one space, none at either end. Quoted text (`'…'`, `"…"`, `` `…` ``,
/// `[…]`) is kept as written, comment marks and blank space in it included.
pub(crate) fn compact(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    // A space is owed: written before the next character kept, unless that ends the text.
    let mut space = false;
    while let Some(c) = chars.next() {
        let blank = match c {
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().take_while(|&c| c != '\n').for_each(drop);
                true
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                true
            }
            c => c.is_whitespace(),
        };
        if blank {
            space = !out.is_empty();
            continue;
        }
        if std::mem::take(&mut space) {
            out.push(' ');
        }
        out.push(c);
        let close = match c {
            '\'' | '"' | '`' => c,
            '[' => ']',
            _ => continue,
        };
        // Quoted: kept to its closing mark (a doubled mark closes and opens again).
        for c in chars.by_ref() {
            out.push(c);
            if c == close {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::compact;

    #[test]
    fn comments_and_blank_space_go_quoted_text_stays() {
        let sql = "-- a comment\nSELECT  a,\n\t'x -- y  /* z */' AS \"b  c\", [d -- e] /* f\n g */ FROM t -- h\n";
        assert_eq!(
            compact(sql),
            "SELECT a, 'x -- y  /* z */' AS \"b  c\", [d -- e] FROM t"
        );
    }

    #[test]
    fn a_doubled_quote_stays_inside_its_text() {
        assert_eq!(
            compact("SELECT 'it''s  --  so'  -- no\n, 1"),
            "SELECT 'it''s  --  so' , 1"
        );
    }

    /// Each route's query of `sql/`, compacted, prepares as written does: the same columns and
    /// parameters (or the same error, for a query of a table this board lacks).
    #[test]
    fn every_routes_query_prepares_alike_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("kanban.db")).unwrap();
        conn.execute_batch(include_str!("../../../sql/kanban_schema.sql"))
            .unwrap();
        crate::register(&conn).unwrap();
        let shape = |sql: &str| {
            conn.prepare(sql)
                .map(|s| {
                    let names: Vec<String> =
                        s.column_names().iter().map(ToString::to_string).collect();
                    (names, s.parameter_count())
                })
                .map_err(|e| e.to_string())
        };
        let mut seen = 0;
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sql")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("route_") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let compacted = compact(&text);
            assert!(compacted.len() < text.len(), "{name}");
            assert_eq!(shape(&compacted), shape(&text), "{name}");
            seen += 1;
        }
        assert!(seen >= 10, "{seen} route queries");
    }
}

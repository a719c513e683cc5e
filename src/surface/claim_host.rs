//! `kanban_workers_claim_host(claim_lock)`: the host a claim names, what precedes the first
//! `:` of `"<host>:<pid>"` (host names have none). NULL when the claim is NULL, not text, has
//! no `:`, or starts with one. A BLOB (never the owner's: a forged row) is cut as bytes and
//! stays a BLOB; one with no host part is the empty BLOB, never NULL: it names a host, and
//! not this one. Invalid UTF-8 text is decoded with U+FFFD.
//!
//! `run_claims.worker_host` is this one call. As SQL (`nullif(substr(c, 1, instr(c, ':') - 1),
//! '')`) it was three calls and three column reads, and the view is flattened into the
//! queries that read it, so it ran at every reference: a third of `/workers/active`'s SQL
//! (BENCHMARKS.md, sixth pass).

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_claim_host";

/// The host `claim` names (see the module doc).
pub fn claim_host(claim: ValueRef<'_>) -> Value {
    let before_colon = |bytes: &[u8]| bytes.iter().position(|b| *b == b':');
    match claim {
        ValueRef::Text(text) => match before_colon(text) {
            Some(end) if end > 0 => Value::Text(String::from_utf8_lossy(&text[..end]).into_owned()),
            _ => Value::Null,
        },
        ValueRef::Blob(bytes) if !bytes.is_empty() => {
            Value::Blob(bytes[..before_colon(bytes).unwrap_or(0)].to_vec())
        }
        _ => Value::Null,
    }
}

pub fn register(conn: &Connection) -> Result<()> {
    // A function of its argument alone: safe anywhere.
    conn.create_scalar_function(
        NAME,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| Ok(claim_host(ctx.get_raw(0))),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The same answer as the SQL it replaced, of the same type, for every shape of claim a
    /// board can hold (the owner's, and forged ones of every type).
    #[test]
    fn the_host_is_what_the_sql_said() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let claims = "VALUES (NULL), (''), (':'), ('a'), ('a:'), (':a'), ('ab:c:d'), ('h:4242'),
             ('é:x'), ('éé'), ('日本:1'), ('::'), (' :x'), (x''), (x'3a'), (x'61'), (x'613a62'),
             (x'3a61'), (x'6162633a'), (12), (-1), (1.5), (0.0)";
        let disagree: Vec<String> = conn
            .prepare(&format!(
                "WITH c(v) AS ({claims}),
                 o(v, sql, ours) AS (
                     SELECT v, nullif(substr(v, 1, instr(v, ':') - 1), ''),
                            kanban_workers_claim_host(v) FROM c)
                 SELECT quote(v) || ': ' || quote(sql) || ' / ' || quote(ours) FROM o
                 WHERE sql IS NOT ours OR typeof(sql) <> typeof(ours)"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert!(disagree.is_empty(), "{disagree:?}");
        let count: i64 = conn
            .query_row(&format!("SELECT count(*) FROM ({claims})"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(count, 23);
    }

    /// Where the SQL counted characters in one call and bytes in the other (a BLOB that is
    /// not ASCII), the host is the bytes before the `:`; invalid UTF-8 text is decoded.
    #[test]
    fn bytes_are_cut_at_the_colon() {
        assert_eq!(
            claim_host(ValueRef::Blob("é:1".as_bytes())),
            Value::Blob("é".as_bytes().to_vec())
        );
        assert_eq!(
            claim_host(ValueRef::Text(b"h\xff:1")),
            Value::Text("h\u{fffd}".into())
        );
        assert_eq!(claim_host(ValueRef::Integer(7)), Value::Null);
    }
}

//! `kanban_workers_claim_host(claim_lock)`: the host a claim names, the bytes before the
//! first `:` of `"<host>:<pid>"` (host names have none), as they are (text stays text, a BLOB
//! stays a BLOB; nothing decoded, so an invalid byte or a NUL stays in the name and no such
//! name is ever this host's, whose name is valid UTF-8 without NUL).
//! - NULL when the claim is NULL, a number, empty, text with no `:` or one that starts with
//!   `:`;
//! - a BLOB (never the owner's: a forged row) with no host part is the empty BLOB: it names a
//!   host, and not this one (a BLOB never equals text).
//!
//! As SQL (`nullif(substr(c, 1, instr(c, ':') - 1), '')`, up to 2b63bed) it was three calls
//! and three column reads, and `run_claims` is flattened into the queries that read it, so it
//! ran at each reference of `worker_host`: some 80,000 instructions of a `/workers/active` of
//! 50 rows (BENCHMARKS.md, "/workers/active within 2%"). The answers are that SQL's for every claim the owner can
//! write; for forged text with a NUL or invalid UTF-8 before the `:` that SQL cut where its
//! character counting said (at the NUL; elsewhere for a stray continuation byte), this keeps
//! the bytes: a host that is never this one.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

use super::part_of;

pub const NAME: &str = "kanban_workers_claim_host";

/// The host `claim` names (see the module doc), a part of `claim`.
pub fn claim_host(claim: ValueRef<'_>) -> ValueRef<'_> {
    let before_colon = |bytes: &[u8]| bytes.iter().position(|b| *b == b':');
    match claim {
        ValueRef::Text(text) => match before_colon(text) {
            Some(end) if end > 0 => ValueRef::Text(&text[..end]),
            _ => ValueRef::Null,
        },
        ValueRef::Blob(bytes) if !bytes.is_empty() => {
            ValueRef::Blob(&bytes[..before_colon(bytes).unwrap_or(0)])
        }
        _ => ValueRef::Null,
    }
}

pub fn register(conn: &Connection) -> Result<()> {
    part_of::register(conn, NAME, claim_host)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn in_sql(conn: &Connection, claim: &str) -> (String, String) {
        conn.query_row(
            &format!(
                "SELECT quote(nullif(substr({claim}, 1, instr({claim}, ':') - 1), '')),
                        quote(kanban_workers_claim_host({claim}))"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// The SQL's answer, of the same type, for every claim that is valid text (all the owner
    /// writes), and for forged BLOBs and numbers of ASCII.
    #[test]
    fn the_host_is_what_the_sql_said() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let claims = [
            "NULL",
            "''",
            "':'",
            "'a'",
            "'a:'",
            "':a'",
            "'ab:c:d'",
            "'h:4242'",
            "'é:x'",
            "'éé'",
            "'日本:1'",
            "'::'",
            "' :x'",
            "x''",
            "x'3a'",
            "x'61'",
            "x'613a62'",
            "x'3a61'",
            "x'6162633a'",
            "12",
            "-1",
            "1.5",
            "0.0",
        ];
        for claim in claims {
            let (sql, ours) = in_sql(&conn, claim);
            assert_eq!(ours, sql, "{claim}");
        }
    }

    /// Where the SQL counted characters (a NUL, invalid UTF-8, a BLOB that is not ASCII), the
    /// host is the bytes before the `:`, as they are: never a name that is this host's.
    #[test]
    fn bytes_are_cut_at_the_colon_and_kept() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let cases = [
            // The SQL stopped at the NUL: 'a', or NULL for a claim starting with one.
            ("CAST(x'61003a31' AS TEXT)", "CAST(x'6100' AS TEXT)"),
            ("CAST(x'003a31' AS TEXT)", "CAST(x'00' AS TEXT)"),
            // Invalid UTF-8 stays as it is (not U+FFFD: 'a\u{fffd}' may be a host's name).
            ("CAST(x'61ff3a31' AS TEXT)", "CAST(x'61ff' AS TEXT)"),
            ("CAST(x'61803a31' AS TEXT)", "CAST(x'6180' AS TEXT)"),
            // A BLOB: bytes, not characters (the SQL gave X'C3').
            ("x'c3a93a31'", "x'c3a9'"),
        ];
        for (claim, host) in cases {
            let same: bool = conn
                .query_row(
                    &format!(
                        "SELECT kanban_workers_claim_host({claim}) = {host}
                                AND typeof(kanban_workers_claim_host({claim})) = typeof({host})"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(same, "{claim}: {:?}", in_sql(&conn, claim));
        }
    }
}

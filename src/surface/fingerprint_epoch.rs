//! `kanban_workers_fingerprint_epoch(fingerprint)`: the instantiation a worker's fingerprint
//! carries (`task_runs.worker_started_at` of the newer releases, `<boot_id>:<pid 1's start
//! ticks>|<start ticks>`), what precedes its `|`, when the fingerprint has the owner's form:
//! text of at most 200 characters; before its first `|`, a `:` with a character on each side
//! (the GLOB `?*:?*`); after it, ASCII digits, at least one, and nothing else. Else NULL: no
//! fingerprint, a number, `unverified`, a malformed one, one with a part that was unreadable
//! when it was taken (`<boot_id>:|<ticks>`), and text no owner writes (invalid UTF-8, a NUL).
//!
//! `run_claims.run_epoch` is this one call. As SQL it took the fingerprint apart at each
//! reference of the flattened view (patterns, `instr`, `substr`, `length`: ~4,500 instructions
//! a row of `/workers/active` on a board of the newer releases; BENCHMARKS.md, "/workers/active
//! within 2%").

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_fingerprint_epoch";

/// The longest fingerprint of the owner's form, in characters (as `run_verdicts` reads it).
const MAX_CHARS: usize = 200;

/// The epoch part of `fingerprint` (see the module doc).
pub fn fingerprint_epoch(fingerprint: ValueRef<'_>) -> Option<&str> {
    let ValueRef::Text(bytes) = fingerprint else {
        return None;
    };
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('\0') || text.chars().count() > MAX_CHARS {
        return None;
    }
    let (epoch, ticks) = text.split_once('|')?;
    let digits = !ticks.is_empty() && ticks.bytes().all(|b| b.is_ascii_digit());
    // A ':' with a character before it and one after it (':' is one byte: a character
    // before is a byte before, and one after is a byte after).
    let colon = epoch
        .bytes()
        .enumerate()
        .any(|(i, b)| b == b':' && i > 0 && i + 1 < epoch.len());
    (digits && colon).then_some(epoch)
}

pub fn register(conn: &Connection) -> Result<()> {
    // A function of its argument alone: safe anywhere.
    conn.create_scalar_function(
        NAME,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| Ok(fingerprint_epoch(ctx.get_raw(0)).map(str::to_owned)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn epoch_of(text: &[u8]) -> Option<&str> {
        fingerprint_epoch(ValueRef::Text(text))
    }

    #[test]
    fn the_epoch_part_of_the_owners_form() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"b1e2:23|123", Some("b1e2:23")),
            (b"b1e2:23:9|1", Some("b1e2:23:9")),
            (b":a:b|1", Some(":a:b")),
            ("\u{e9}:\u{e9}|1".as_bytes(), Some("\u{e9}:\u{e9}")),
            (b"b1e2:23|", None),
            (b"b1e2:23|12a", None),
            (b"b1e2:23|1|2", None),
            (b"b1e2:23||1", None),
            (b"b1e2:23", None),
            (b"b:|1", None),
            (b":1|1", None),
            (b"b|1", None),
            (b"::|1", None),
            (b":a:|1", None),
            (b"|1", None),
            (b"", None),
            (b"unverified", None),
            (b"a:b|1 ", None),
            // Text no owner writes.
            (b"a:b|1\0", None),
            (b"a\0:b|1", None),
            (b"a\xff:b|1", None),
        ];
        for (text, epoch) in cases {
            assert_eq!(
                epoch_of(text),
                *epoch,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(fingerprint_epoch(ValueRef::Integer(12345)), None);
        assert_eq!(fingerprint_epoch(ValueRef::Blob(b"a:b|1")), None);
        assert_eq!(fingerprint_epoch(ValueRef::Null), None);
    }

    /// At most 200 characters, counted as characters (`é` is two bytes).
    #[test]
    fn at_most_200_characters() {
        let at = format!("{}:b|1", "\u{e9}".repeat(196));
        assert_eq!(at.chars().count(), 200);
        assert!(epoch_of(at.as_bytes()).is_some());
        let over = format!("{}:b|1", "\u{e9}".repeat(197));
        assert_eq!(epoch_of(over.as_bytes()), None);
    }
}

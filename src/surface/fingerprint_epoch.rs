//! `kanban_workers_fingerprint_epoch(fingerprint)`: the instantiation a worker's fingerprint
//! carries (`task_runs.worker_started_at` of the newer releases, `<boot_id>:<pid 1's start
//! ticks>|<start ticks>`), what precedes its `|`, when the fingerprint has the owner's form:
//! text of at most 200 characters; before its first `|`, a `:` with a character on each side
//! (the GLOB `?*:?*`); after it, ASCII digits, at least one, and nothing else. NULL for no
//! fingerprint, a number, a BLOB, `unverified`, a malformed one, one with a part that was
//! unreadable when it was taken (`<boot_id>:|<ticks>`): the run's claim decides where it runs.
//!
//! Text no owner writes (invalid UTF-8, a NUL; the owner writes Python strings) of at most
//! 800 bytes is another instantiation's: its bytes before the first `|` (all of them when
//! there is none), as they are, which are this host's epoch only when they spell it exactly
//! (then the claim decides, as for this host's own fingerprints). So a forged fingerprint
//! never makes a run local that a well-formed one of another instantiation would not (the SQL
//! before read such text as characters, and a NUL ended it).
//!
//! `run_claims.run_epoch` is this call (where this host's epoch is known). As SQL the view,
//! flattened into the queries that read it, took the fingerprint apart at each reference:
//! ~8,600 instructions a row of `/workers/active` on a board of the newer releases
//! (1,480,446 -> 1,047,747 for 50 rows; BENCHMARKS.md, "/workers/active within 2%").

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

use super::part_of;

pub const NAME: &str = "kanban_workers_fingerprint_epoch";

/// The longest fingerprint of the owner's form, in characters.
const MAX_CHARS: usize = 200;
/// Its most bytes (4 a character): text longer than this is not of the form, unread.
const MAX_BYTES: usize = 4 * MAX_CHARS;

/// The epoch part of `fingerprint` (see the module doc), a part of it.
pub fn fingerprint_epoch(fingerprint: ValueRef<'_>) -> Option<&[u8]> {
    let ValueRef::Text(bytes) = fingerprint else {
        return None;
    };
    if bytes.len() > MAX_BYTES {
        return None;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text,
        // Not the owner's: another instantiation's.
        _ => {
            let bar = bytes.iter().position(|b| *b == b'|');
            return Some(bar.map_or(bytes, |bar| &bytes[..bar]));
        }
    };
    if text.chars().count() > MAX_CHARS {
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
    (digits && colon).then_some(epoch.as_bytes())
}

/// [`fingerprint_epoch`] as a value: text, or NULL.
fn as_value(fingerprint: ValueRef<'_>) -> ValueRef<'_> {
    fingerprint_epoch(fingerprint).map_or(ValueRef::Null, ValueRef::Text)
}

pub fn register(conn: &Connection) -> Result<()> {
    part_of::register(conn, NAME, as_value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn epoch_of(text: &[u8]) -> Option<&[u8]> {
        fingerprint_epoch(ValueRef::Text(text))
    }

    #[test]
    fn the_epoch_part_of_the_owners_form() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"b1e2:23|123", Some(b"b1e2:23")),
            (b"b1e2:23:9|1", Some(b"b1e2:23:9")),
            (b":a:b|1", Some(b":a:b")),
            (
                "\u{e9}:\u{e9}|1".as_bytes(),
                Some("\u{e9}:\u{e9}".as_bytes()),
            ),
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

    /// Text no owner writes is another instantiation's: the bytes before its first `|`, or
    /// all of them, whatever its form.
    #[test]
    fn text_no_owner_writes_is_another_instantiations() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a:b|1\0zz", b"a:b"),
            (b"a\0:b|1", b"a\0:b"),
            (b"a\xff:b|1", b"a\xff:b"),
            (b"\xff", b"\xff"),
            (b"x:y|\xff", b"x:y"),
        ];
        for (text, epoch) in cases {
            assert_eq!(
                epoch_of(text),
                Some(*epoch),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// At most 200 characters, counted as characters (`é` is two bytes), and never more
    /// than their bytes read.
    #[test]
    fn at_most_200_characters() {
        let at = format!("{}:b|1", "\u{e9}".repeat(196));
        assert_eq!(at.chars().count(), 200);
        assert!(epoch_of(at.as_bytes()).is_some());
        let over = format!("{}:b|1", "\u{e9}".repeat(197));
        assert_eq!(epoch_of(over.as_bytes()), None);
        let long = [b"a:b|1".as_slice(), &[b'\xff'; MAX_BYTES]].concat();
        assert_eq!(epoch_of(&long), None);
    }
}

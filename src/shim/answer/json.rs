//! The answers' JSON, written through serde straight from SQLite's values: `Serialize`
//! adapters over a value, a row, a list of rows (read from a running query or from a sample),
//! which build no JSON tree (a list grows with the board: building and freeing a tree cost
//! several times the query, BENCHMARKS.md). Bounded as it is written: past
//! [`MAX_ANSWER_BYTES`], a 507.

use std::cell::{Cell as Counter, RefCell};
use std::io;

use rusqlite::types::ValueRef;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::shim::ApiError;

/// The most an answer written from a board's rows may hold, as served (its JSON bytes, each
/// escape counted): a board writer's rows of control characters grow six times when escaped,
/// so the bound is on what is written, checked as it is written (507 past it). The answers
/// being sent share 64 MiB besides (`http::app`).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// How one column is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// As SQLite holds it: null, an integer, a real (null when not finite), text as a string
    /// (invalid UTF-8, or a BLOB, decoded as the owner's Python decodes it: each invalid
    /// sequence one U+FFFD).
    Plain,
    /// 0/1 as `false`/`true` (anything else as [`Kind::Plain`]).
    Boolean,
    /// JSON text the library wrote (`proc_stats.cmdline`, a query's `json_group_array`):
    /// copied as it is (text that is not JSON: null).
    Json,
    /// The owner's JSON text (`metadata`) as the owner's API answers it: decoded, with Python's
    /// numbers ([`owner_json`]); null when empty, not text, or not JSON.
    OwnerJson,
}

/// Columns answered as JSON booleans (0/1 in SQL, null stays null).
const BOOLEANS: &[&str] = &[
    "local",
    "alive",
    "wedged",
    "signalable",
    "may_signal",
    "ended_but_alive",
    "infrastructure",
    "claimer_alive",
];
/// Columns holding JSON text the library wrote (serde_json): copied into the answer as JSON.
const JSON_TEXT: &[&str] = &["cmdline"];

/// How the column `name` of a route's query is written.
pub fn kind_of(name: &str) -> Kind {
    if BOOLEANS.contains(&name) {
        Kind::Boolean
    } else if JSON_TEXT.contains(&name) {
        Kind::Json
    } else {
        Kind::Plain
    }
}

/// One SQLite value, written as its column's kind says.
#[derive(Clone, Copy, Debug)]
pub struct Cell<'a>(pub Kind, pub ValueRef<'a>);

impl<'a> Cell<'a> {
    pub fn plain(v: ValueRef<'a>) -> Cell<'a> {
        Cell(Kind::Plain, v)
    }
    pub fn int(i: i64) -> Cell<'a> {
        Cell(Kind::Plain, ValueRef::Integer(i))
    }
    pub fn text(t: &'a str) -> Cell<'a> {
        Cell(Kind::Plain, ValueRef::Text(t.as_bytes()))
    }
    pub fn boolean(b: bool) -> Cell<'a> {
        Cell(Kind::Boolean, ValueRef::Integer(i64::from(b)))
    }
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (Kind::Boolean, ValueRef::Integer(i)) => s.serialize_bool(i != 0),
            (Kind::Json, ValueRef::Text(json)) => match std::str::from_utf8(json)
                .ok()
                .and_then(|json| serde_json::from_str::<&RawValue>(json).ok())
            {
                Some(raw) => raw.serialize(s),
                None => s.serialize_unit(),
            },
            (Kind::OwnerJson, v) => owner_json(v).serialize(s),
            (_, ValueRef::Null) => s.serialize_unit(),
            (_, ValueRef::Integer(i)) => s.serialize_i64(i),
            // serde_json writes a non-finite float as null.
            (_, ValueRef::Real(r)) => s.serialize_f64(r),
            // Valid UTF-8 as it is (checked a word at a time, where `from_utf8_lossy` walks
            // each byte: a third of `/workers/active`'s text writing); else U+FFFD for each
            // invalid sequence.
            (_, ValueRef::Text(t) | ValueRef::Blob(t)) => match std::str::from_utf8(t) {
                Ok(text) => s.serialize_str(text),
                Err(_) => s.serialize_str(&String::from_utf8_lossy(t)),
            },
        }
    }
}

/// The owner's JSON text (`metadata`) as its API answers it (`_json_or`): text (a BLOB, or
/// invalid UTF-8, decoded with U+FFFD as the owner does first) parsed as JSON; null when empty,
/// not text, or not JSON. Numbers come back as Python's `json` gives them: integers with all
/// their digits, however many (serde_json's `arbitrary_precision` keeps the text), and other
/// numbers as 64-bit floats.
pub fn owner_json(v: ValueRef<'_>) -> Value {
    let (ValueRef::Text(bytes) | ValueRef::Blob(bytes)) = v else {
        return Value::Null;
    };
    match serde_json::from_str(&String::from_utf8_lossy(bytes)) {
        Ok(mut value) => {
            python_numbers(&mut value);
            value
        }
        Err(_) => Value::Null,
    }
}

/// Numbers as Python's `json` reads and writes them back: an integer keeps its digits (`-0` is
/// `0`), anything with a fraction or an exponent is a 64-bit float (null beyond its range).
fn python_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            let text = n.as_str();
            if text == "-0" {
                *v = Value::from(0);
            } else if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                *v = n
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(python_numbers),
        Value::Object(map) => map.values_mut().for_each(python_numbers),
        _ => {}
    }
}

/// An object of fixed fields, in order.
pub struct Fields<'a>(pub &'a [(&'a str, Cell<'a>)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, cell) in self.0 {
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }
}

/// `{"<name>": value}`.
pub struct Named<'a, T>(pub &'a str, pub T);

impl<T: Serialize> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// A column of a route's query as answered: its key, how it is written, and where it is in
/// the row.
pub struct Key {
    name: String,
    kind: Kind,
    column: usize,
}

/// The keys of the columns `names` (the row's columns from `first` on, in order), each
/// written as [`kind_of`] says.
pub fn keys<'a>(names: impl IntoIterator<Item = &'a str>, first: usize) -> Vec<Key> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Key {
            name: name.to_owned(),
            kind: kind_of(name),
            column: first + i,
        })
        .collect()
}

/// The keys of the columns `names` but those in `left_out`.
pub fn keys_but(names: &[String], left_out: &[&str]) -> Vec<Key> {
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| !left_out.contains(&name.as_str()))
        .map(|(column, name)| Key {
            name: name.clone(),
            kind: kind_of(name),
            column,
        })
        .collect()
}

/// One row as an object: `board` first when given (`"board": slug`), then each key with its
/// column's value (`value(column)`).
pub struct Object<'a, F> {
    pub board: Option<&'a str>,
    pub keys: &'a [Key],
    pub value: F,
}

impl<'v, F: Fn(usize) -> ValueRef<'v>> Serialize for Object<'_, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.keys.len() + usize::from(self.board.is_some())))?;
        if let Some(board) = self.board {
            map.serialize_entry("board", board)?;
        }
        for key in self.keys {
            map.serialize_entry(&key.name, &Cell(key.kind, (self.value)(key.column)))?;
        }
        map.end()
    }
}

/// A list of rows: serialized as a JSON array, counted.
pub trait Rows: Serialize {
    /// How many rows were written (once serialized).
    fn count(&self) -> usize;
}

/// Rows of a sample: each row an object of `keys`, after `board` (its slug) when given.
pub struct Sample<'a> {
    pub board: Option<&'a str>,
    pub keys: Vec<Key>,
    pub rows: &'a [Vec<rusqlite::types::Value>],
}

/// The rows of a sample, or of several boards' samples one after the other.
pub struct Sampled<'a>(pub Vec<Sample<'a>>);

impl Serialize for Sampled<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.count()))?;
        for sample in &self.0 {
            for row in sample.rows {
                seq.serialize_element(&Object {
                    board: sample.board,
                    keys: &sample.keys,
                    value: |i| row.get(i).map_or(ValueRef::Null, ValueRef::from),
                })?;
            }
        }
        seq.end()
    }
}

impl Rows for Sampled<'_> {
    fn count(&self) -> usize {
        self.0.iter().map(|sample| sample.rows.len()).sum()
    }
}

/// Where an adapter reading a running query keeps the error it met (the query's, as
/// [`crate::shim::board::pool::query_error`] answers it), so that the answer is that error.
pub type Failed = RefCell<Option<ApiError>>;

/// The rows of a running query, each an object, written as they are stepped through and
/// counted. A row whose first shown column is null is not shown (`skip_null`: the processes'
/// query's row of a run with no process) but is `found`.
pub struct Streamed<'s, 'k> {
    pub rows: RefCell<rusqlite::Rows<'s>>,
    pub keys: &'k [Key],
    pub skip_null: bool,
    pub error: &'k dyn Fn(rusqlite::Error) -> ApiError,
    pub failed: &'k Failed,
    pub found: Counter<bool>,
    pub count: Counter<usize>,
}

impl<'s, 'k> Streamed<'s, 'k> {
    pub fn new(
        rows: rusqlite::Rows<'s>,
        keys: &'k [Key],
        error: &'k dyn Fn(rusqlite::Error) -> ApiError,
        failed: &'k Failed,
    ) -> Streamed<'s, 'k> {
        Streamed {
            rows: RefCell::new(rows),
            keys,
            skip_null: false,
            error,
            failed,
            found: Counter::new(false),
            count: Counter::new(0),
        }
    }

    /// The error `e` kept (the answer), and serde's to stop the writing.
    fn fail<E: serde::ser::Error>(&self, e: ApiError) -> E {
        let message = E::custom(&e.detail);
        *self.failed.borrow_mut() = Some(e);
        message
    }
}

impl Serialize for Streamed<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        let mut rows = self.rows.borrow_mut();
        // The widest column a key reads (the row's columns are the statement's).
        let width = self.keys.iter().map(|k| k.column + 1).max().unwrap_or(0);
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => return Err(self.fail((self.error)(e))),
            };
            self.found.set(true);
            // A schema change seen during the step prepares the statement again: its columns
            // may no longer be the keys'.
            if row.as_ref().column_count() < width {
                let e = rusqlite::Error::InvalidColumnIndex(width - 1);
                return Err(self.fail((self.error)(e)));
            }
            let value = |i| row.get_ref(i).unwrap_or(ValueRef::Null);
            if self.skip_null && self.keys.first().map(|k| value(k.column)) == Some(ValueRef::Null)
            {
                continue;
            }
            seq.serialize_element(&Object {
                board: None,
                keys: self.keys,
                value,
            })?;
            self.count.set(self.count.get() + 1);
        }
        seq.end()
    }
}

impl Rows for Streamed<'_, '_> {
    fn count(&self) -> usize {
        self.count.get()
    }
}

/// `{<before>..., "<name>": [rows], "count": N, <after>...}`: a list answer, `count` the rows
/// written.
pub struct List<'a, R> {
    pub before: &'a [(&'a str, Cell<'a>)],
    pub name: &'a str,
    pub rows: &'a R,
    pub after: &'a [(&'a str, Cell<'a>)],
}

impl<R: Rows> Serialize for List<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, cell) in self.before {
            map.serialize_entry(name, cell)?;
        }
        map.serialize_entry(self.name, self.rows)?;
        map.serialize_entry("count", &self.rows.count())?;
        for (name, cell) in self.after {
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }
}

/// The answer's bytes, refused past `bound` as they are written.
struct Bounded {
    out: Vec<u8>,
    bound: usize,
}

impl io::Write for Bounded {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.out.len() + buf.len() > self.bound {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "over the bound",
            ));
        }
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `answer` as JSON (`capacity`: the bytes to reserve first). Its error, if a reading adapter
/// kept one in `failed`; 507 past [`MAX_ANSWER_BYTES`].
pub fn write(
    answer: &impl Serialize,
    capacity: usize,
    failed: Option<&Failed>,
) -> Result<Vec<u8>, ApiError> {
    write_within(answer, capacity, failed, MAX_ANSWER_BYTES)
}

/// [`write`], 507 past `bound` bytes.
fn write_within(
    answer: &impl Serialize,
    capacity: usize,
    failed: Option<&Failed>,
    bound: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Bounded {
        out: Vec::with_capacity(capacity.min(bound)),
        bound,
    };
    match answer.serialize(&mut serde_json::Serializer::new(&mut out)) {
        Ok(()) => Ok(out.out),
        Err(e) => Err(match failed.and_then(RefCell::take) {
            Some(kept) => kept,
            None if e.is_io() => ApiError::new(
                507,
                format!(
                    "the answer is over {} MiB as JSON; ask for less (one run: /runs/{{id}})",
                    bound >> 20
                ),
            ),
            None => ApiError::new(500, format!("the answer could not be written: {e}")),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rusqlite::types::Value as Sql;

    fn written(cell: Cell<'_>) -> String {
        String::from_utf8(write(&cell, 0, None).unwrap()).unwrap()
    }

    /// Each kind, each SQLite type: what the answers held when they were written by hand.
    #[test]
    fn each_value_is_written_as_its_kind_says() {
        use ValueRef::{Blob, Integer, Null, Real, Text};
        let cases: &[(Kind, ValueRef<'_>, &str)] = &[
            (Kind::Plain, Null, "null"),
            (
                Kind::Plain,
                Integer(-9_007_199_254_740_993),
                "-9007199254740993",
            ),
            (Kind::Plain, Real(0.1), "0.1"),
            (Kind::Plain, Real(1e21), "1e+21"),
            (Kind::Plain, Real(3.0), "3.0"),
            (Kind::Plain, Real(f64::NAN), "null"),
            (Kind::Plain, Real(f64::INFINITY), "null"),
            (
                Kind::Plain,
                Text(b"a\"\n\x01\xff"),
                "\"a\\\"\\n\\u0001\u{fffd}\"",
            ),
            (Kind::Plain, Blob(b"\xe2\x82\xac"), "\"\u{20ac}\""),
            (Kind::Boolean, Integer(1), "true"),
            (Kind::Boolean, Integer(0), "false"),
            (Kind::Boolean, Null, "null"),
            (Kind::Boolean, Text(b"1"), "\"1\""),
            (
                Kind::Json,
                Text(b"[\"sleep\",\"1000\"]"),
                "[\"sleep\",\"1000\"]",
            ),
            (Kind::Json, Text(b"[\"x\""), "null"),
            (Kind::Json, Null, "null"),
            (
                Kind::OwnerJson,
                Text(b"{\"n\": 1.50, \"i\": -0, \"big\": 123456789012345678901234567890}"),
                "{\"n\":1.5,\"i\":0,\"big\":123456789012345678901234567890}",
            ),
            (
                Kind::OwnerJson,
                Blob(b"{\"a\": \"\xff\"}"),
                "{\"a\":\"\u{fffd}\"}",
            ),
            (Kind::OwnerJson, Text(b""), "null"),
            (Kind::OwnerJson, Blob(b"\x01\x02"), "null"),
            (Kind::OwnerJson, Integer(3), "null"),
        ];
        for (kind, value, json) in cases {
            assert_eq!(written(Cell(*kind, *value)), *json, "{kind:?} {value:?}");
        }
    }

    /// A list past the bound is a 507 as it is written, not after.
    #[test]
    fn a_list_past_the_bound_is_refused() {
        let rows = vec![vec![Sql::Text("\u{1}".repeat(100))]; 10];
        let sampled = Sampled(vec![Sample {
            board: Some("b"),
            keys: keys(["x"], 0),
            rows: &rows,
        }]);
        let list = List {
            before: &[],
            name: "workers",
            rows: &sampled,
            after: &[],
        };
        let whole = write_within(&list, 0, None, 1 << 20).unwrap();
        // Each row's 100 bytes are 600 as written (`\u0001`).
        let row = format!("{{\"board\":\"b\",\"x\":\"{}\"}}", "\\u0001".repeat(100));
        let expected = format!("{{\"workers\":[{}],\"count\":10}}", vec![row; 10].join(","));
        assert_eq!(String::from_utf8(whole.clone()).unwrap(), expected);
        assert_eq!(write_within(&list, 0, None, whole.len()).unwrap(), whole);
        let refused = write_within(&list, 0, None, whole.len() - 1).unwrap_err();
        assert_eq!(refused.status, 507);
        assert!(
            refused.detail.contains("ask for less"),
            "{}",
            refused.detail
        );
    }
}

//! The shell of a scalar function of one value whose answer is a part of that value
//! (`kanban_workers_claim_host`, `kanban_workers_fingerprint_epoch`): registered as a pure
//! function (safe anywhere), the part given to SQLite as it is. Text stays text whether or not
//! it is valid UTF-8 (rusqlite's `Value::Text` would need a `String`), a BLOB stays a BLOB.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Result};

/// Register `name(value)`, answering `part(value)`.
pub fn register(
    conn: &Connection,
    name: &'static str,
    part: for<'a> fn(ValueRef<'a>) -> ValueRef<'a>,
) -> Result<()> {
    conn.create_scalar_function(
        name,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        move |ctx| Ok(Part::of(part(ctx.get_raw(0)))),
    )
}

/// An owned part, as SQLite is given it.
enum Part {
    Null,
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Part {
    /// Text and BLOBs copied; anything else (the functions answer no numbers) is NULL.
    fn of(value: ValueRef<'_>) -> Part {
        match value {
            ValueRef::Text(text) => Part::Text(text.to_vec()),
            ValueRef::Blob(bytes) => Part::Blob(bytes.to_vec()),
            _ => Part::Null,
        }
    }
}

impl ToSql for Part {
    fn to_sql(&self) -> Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Part::Null => ValueRef::Null,
            Part::Text(text) => ValueRef::Text(text),
            Part::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

//! The toolkit the table-valued functions share (`proc_stats`, `proc_tree`, `proc_marks`):
//! how a column is described, the table's declaration, finding the pid argument among the
//! planner's constraints, parsing it, and the guard that turns a panic into an SQL error.
//! Knows nothing of procfs.

use std::ffi::{CString, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{Filters, IndexConstraintOp, IndexInfo};
use rusqlite::{Error, Result};

use crate::procinfo::PID_MAX_LIMIT;

/// One visible column of a table-valued function: which value (`id`, the function's own enum,
/// so a value is found by what it is, never by its position), its name, SQL type and meaning.
/// A function's `COLUMNS` is the single source for its declaration, for which value each
/// position holds, and for the docs check (`tests/docs.rs`: `docs/sql.md` has the row
/// `| `name` | sql_type | doc |`).
#[derive(Debug)]
pub struct Column<C: 'static> {
    pub id: C,
    pub name: &'static str,
    pub sql_type: &'static str,
    pub doc: &'static str,
}

/// The position of the column with value `id` in `columns` (and in the declaration).
pub(crate) fn position<C: PartialEq>(columns: &[Column<C>], id: C) -> Option<usize> {
    columns.iter().position(|c| c.id == id)
}

/// Whether SQLite's column usage mask `col_used` has the column with value `id` (bit 63 stands
/// for every column from 63 on).
pub(crate) fn is_used<C: PartialEq>(columns: &[Column<C>], col_used: u64, id: C) -> bool {
    position(columns, id).is_some_and(|i| col_used & (1u64 << i.min(63)) != 0)
}

/// `idx_num` bit shared by every function: the argument is present.
pub(crate) const IDX_ARG: c_int = 1;

/// `CREATE TABLE x(<columns>, <extra>, <hidden> HIDDEN)` for function `name`.
pub(crate) fn declaration<C>(
    name: &str,
    columns: &[Column<C>],
    extra: &str,
    hidden: &str,
) -> Result<CString> {
    let mut sql = String::from("CREATE TABLE x(");
    for c in columns {
        sql.push_str(c.name);
        sql.push(' ');
        sql.push_str(c.sql_type);
        sql.push_str(", ");
    }
    sql.push_str(extra);
    sql.push_str(hidden);
    sql.push_str(" HIDDEN)");
    CString::new(sql).map_err(|e| Error::ModuleError(format!("{name}: {e}")))
}

/// The constraint that gives a function its argument: the first usable `=` on a column for
/// which `is_argument` holds; and whether such a constraint exists but is not usable yet (the
/// value comes from a table not yet scanned: SQLite must try another order).
pub(crate) fn argument_constraint(
    info: &IndexInfo,
    is_argument: impl Fn(c_int) -> bool,
) -> (Option<usize>, bool) {
    let mut chosen = None;
    let mut unusable = false;
    for (i, c) in info.constraints().enumerate() {
        if !is_argument(c.column()) || c.operator() != IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ
        {
            continue;
        }
        if !c.is_usable() {
            unusable = true;
        } else if chosen.is_none() {
            chosen = Some(i);
        }
    }
    (chosen, unusable)
}

/// The plan of a function of one pid giving one row (`proc_stats`, `proc_marks`): the pid from
/// the first usable `=` on a column for which `is_argument` holds, and `IDX_ARG | bits(mask)`
/// as `idx_num`, `bits` saying which files the query's columns need. Without the argument, a
/// plan SQLite avoids (the cursor then names the missing argument); with it only from a table
/// not yet scanned, `false`: SQLite must try another order.
pub(crate) fn one_pid_plan(
    info: &mut IndexInfo,
    is_argument: impl Fn(c_int) -> bool,
    bits: impl Fn(u64) -> c_int,
) -> bool {
    let (chosen, unusable) = argument_constraint(info, is_argument);
    match chosen {
        Some(i) => {
            let mut usage = info.constraint_usage(i);
            usage.set_argv_index(1);
            usage.set_omit(true);
            let bits = bits(info.col_used());
            info.set_idx_num(IDX_ARG | bits);
            info.set_estimated_cost(1.0);
            info.set_estimated_rows(1);
            true
        }
        None if unusable => false,
        None => {
            info.set_idx_num(0);
            info.set_estimated_cost(1e12);
            true
        }
    }
}

/// Run a callback of function `name`, turning a panic into an SQL error.
pub(crate) fn guarded<T>(name: &str, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::ModuleError(format!(
            "{name}: internal error in {what}"
        )))
    })
}

/// The pid argument of function `name` (the first filter argument, planned with
/// [`IDX_ARG`]): `Ok(None)` for NULL (no row), an error when it is missing or not a pid.
pub(crate) fn pid_argument(name: &str, idx_num: c_int, args: &Filters<'_>) -> Result<Option<i32>> {
    if idx_num & IDX_ARG == 0 || args.is_empty() {
        return Err(Error::ModuleError(format!(
            "{name}: a pid argument is required, as in SELECT * FROM {name}(1234)"
        )));
    }
    let value: Value = args.get(0)?;
    parse_pid(name, ValueRef::from(&value)).map_err(Error::ModuleError)
}

/// Validate a pid argument: `Ok(None)` for NULL (no row), an error naming function `name` for
/// anything that is not an integer in 1..=PID_MAX_LIMIT.
pub fn parse_pid(name: &str, value: ValueRef<'_>) -> std::result::Result<Option<i32>, String> {
    let n = match value {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(i) => i,
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            match text.trim().parse::<i64>() {
                Ok(i) => i,
                Err(_) => {
                    let shown: String = text.chars().take(40).collect();
                    return Err(format!(
                        "{name}: pid must be an integer, got text '{shown}'"
                    ));
                }
            }
        }
        ValueRef::Real(r) => return Err(format!("{name}: pid must be an integer, got real {r}")),
        ValueRef::Blob(_) => return Err(format!("{name}: pid must be an integer, got a blob")),
    };
    if !(1..=PID_MAX_LIMIT).contains(&n) {
        return Err(format!(
            "{name}: pid {n} is out of range (1 to {PID_MAX_LIMIT})"
        ));
    }
    // In range, so it fits in an i32.
    i32::try_from(n)
        .map(Some)
        .map_err(|_| format!("{name}: pid {n} is out of range"))
}

/// For a function's tests: each column's value is declared once, and its variant's name is
/// the column's name in CamelCase (`start_ticks`: `StartTicks`).
#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) fn assert_each_id_is_its_name<C: PartialEq + Copy + std::fmt::Debug>(
    columns: &[Column<C>],
) {
    for (i, c) in columns.iter().enumerate() {
        assert_eq!(
            position(columns, c.id),
            Some(i),
            "{} is declared twice",
            c.name
        );
        let camel: String = c
            .name
            .split('_')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect();
        assert_eq!(format!("{:?}", c.id), camel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parse_pid_accepts_integers_in_range_and_names_the_problem_otherwise() {
        let parse = |v| parse_pid("proc_stats", v);
        assert_eq!(parse(ValueRef::Null), Ok(None));
        assert_eq!(parse(ValueRef::Integer(1)), Ok(Some(1)));
        assert_eq!(parse(ValueRef::Text(b" 42 ")), Ok(Some(42)));
        assert_eq!(parse(ValueRef::Integer(PID_MAX_LIMIT)), Ok(Some(4_194_304)));
        for (v, needle) in [
            (ValueRef::Integer(0), "out of range"),
            (ValueRef::Integer(-1), "out of range"),
            (ValueRef::Integer(PID_MAX_LIMIT + 1), "out of range"),
            (ValueRef::Integer(i64::MAX), "out of range"),
            (ValueRef::Text(b"abc"), "got text 'abc'"),
            (ValueRef::Real(1.5), "got real 1.5"),
            (ValueRef::Blob(b"\x01"), "got a blob"),
        ] {
            let err = parse(v).err().unwrap_or_default();
            assert!(
                err.starts_with("proc_stats: ") && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn the_declaration_lists_the_columns_then_the_extra_and_the_hidden_one() {
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum C {
            A,
            B,
        }
        let columns = [
            Column {
                id: C::A,
                name: "a",
                sql_type: "INTEGER",
                doc: "",
            },
            Column {
                id: C::B,
                name: "b",
                sql_type: "TEXT",
                doc: "",
            },
        ];
        let decl = declaration("f", &columns, "depth INTEGER, ", "root").unwrap();
        assert_eq!(
            decl.to_str().unwrap(),
            "CREATE TABLE x(a INTEGER, b TEXT, depth INTEGER, root HIDDEN)"
        );
        assert_eq!(position(&columns, C::B), Some(1));
        assert!(is_used(&columns, 0b10, C::B) && !is_used(&columns, 0b10, C::A));
    }
}

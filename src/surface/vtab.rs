//! The table-valued functions' shell and toolkit (`proc_stats`, `proc_tree`, `proc_marks`,
//! `proc_spawned`). A function is written safely, as a `TableFunction`: its name, its columns,
//! its plan's figures, what `filter` loads from its argument and each column's value. `Tab` and
//! `Cursor` make any such function a virtual table, the unsafe part written once; `register`
//! registers it. Also here: how a column is described, the table's declaration, the one plan
//! every function follows, parsing the pid argument, and the guard that turns a panic into an
//! SQL error. Knows nothing of procfs.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConfig, VTabConnection,
    VTabCursor,
};
use rusqlite::{Connection, Error, Result, ffi};

use crate::proc::info::PID_MAX_LIMIT;

/// One visible column of a table-valued function: which value (`id`, the function's own enum,
/// so a value is found by what it is, never by its position), its name, SQL type and meaning.
/// A function's `COLUMNS` is the single source for its declaration, for which value each
/// position holds, and for the docs check (`tests/it/docs.rs`: `docs/sql.md` has the row
/// `| `name` | sql_type | doc |`).
/// `reads` names the optional files its value is read from (the function's own bitflags): a
/// query reads a file only when a column it uses names it, so a field from a new file costs
/// its row and its parser, nothing more.
#[derive(Debug)]
pub struct Column<C: 'static, F: 'static = NoFiles> {
    pub id: C,
    pub name: &'static str,
    pub sql_type: &'static str,
    pub doc: &'static str,
    pub reads: F,
}

bitflags::bitflags! {
    /// The files of a function whose columns read no optional file.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct NoFiles: u32 {}
}

/// The position of the column with value `id` in `columns` (and in the declaration).
#[cfg(test)]
pub(crate) fn position<C: PartialEq, F>(columns: &[Column<C, F>], id: C) -> Option<usize> {
    columns.iter().position(|c| c.id == id)
}

/// The files the columns in SQLite's usage mask `col_used` read (bit 63 stands for every
/// column from 63 on), as `idx_num` bits beside [`IDX_ARG`].
pub(crate) fn files_plan<C, F>(columns: &[Column<C, F>], col_used: u64) -> c_int
where
    F: bitflags::Flags<Bits = u32> + Copy,
{
    let files = columns
        .iter()
        .enumerate()
        .filter(|(i, _)| col_used & (1u64 << (*i).min(63)) != 0)
        .fold(F::empty(), |files, (_, c)| files.union(c.reads));
    c_int::try_from(files.bits() << 1).unwrap_or(c_int::MAX & !IDX_ARG)
}

/// The files an `idx_num` made by [`files_plan`] says to read.
pub(crate) fn files_of<F: bitflags::Flags<Bits = u32>>(idx_num: c_int) -> F {
    F::from_bits_truncate(u32::try_from(idx_num).unwrap_or(0) >> 1)
}

/// `idx_num` bit shared by every function: the argument is present.
pub(crate) const IDX_ARG: c_int = 1;

/// `CREATE TABLE x(<columns>, <extra>, <hidden> HIDDEN)` for function `name`.
pub(crate) fn declaration<C, F>(
    name: &str,
    columns: &[Column<C, F>],
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

/// One table-valued function, written safely: [`Tab`] and [`Cursor`] make it a virtual table
/// and [`register`] registers it. Its table is `CREATE TABLE x(<COLUMNS>, <EXTRA>, <ARGUMENT>
/// HIDDEN)`; the argument comes from an `=` on a column for which `is_argument` holds (SQL's
/// `f(x)` is `= x` on the hidden one), and `filter` loads the rows it gives.
pub(crate) trait TableFunction: Sized + 'static {
    /// The name SQL calls it by, as registered.
    const NAME: &'static CStr;
    /// [`Self::NAME`] as text, as its errors begin (computed, never set).
    const TEXT_NAME: &'static str = text_name(Self::NAME);
    /// Which value a visible column holds.
    type Col: Copy + PartialEq + 'static;
    /// The optional files its columns read (`Column::reads`).
    type Files: 'static;
    /// Its visible columns, in order: the declaration's first.
    const COLUMNS: &'static [Column<Self::Col, Self::Files>];
    /// Further visible columns after them, each as declared (`"depth INTEGER"`).
    const EXTRA: &'static [&'static str] = &[];
    /// The name of the hidden argument column (after it only [`Self::MORE_ARGUMENTS`]).
    const ARGUMENT: &'static str;
    /// Further hidden argument columns, in order: `f(a, b, c)` gives `b` and `c` to them, and
    /// `filter` finds them at `args` 1, 2, ... (those given: a plan waits for any whose value
    /// comes from a table not yet scanned). None by default.
    const MORE_ARGUMENTS: &'static [&'static str] = &[];
    /// The plan's estimate with the argument: its cost...
    const COST: f64;
    /// ...and the rows it gives.
    const ROWS: i64;
    /// State given at registration (the [`crate::CpuSampler`]), shared by its cursors.
    type Aux: Clone + Default + Send + Sync + 'static;
    /// One row.
    type Row;
    /// A cursor's rows: `Option<Row>` for a function of at most one row, [`Many`] for more.
    type Rows: Rows<Self::Row>;

    /// Whether an `=` on `column` gives the argument: the hidden column unless it says more.
    fn is_argument(column: Slot<Self::Col>) -> bool {
        column == Slot::Argument
    }
    /// The `idx_num` bits beside [`IDX_ARG`] of a plan that has the argument (which files the
    /// query's columns need, further arguments it takes from argv 2 on). None by default.
    fn idx_bits(_info: &mut IndexInfo) -> c_int {
        0
    }
    /// Load `rows` (empty when called) for the plan `idx_num` and its `args`.
    fn filter(
        aux: &Self::Aux,
        rows: &mut Self::Rows,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()>;
    /// The value of `column` in `row`.
    fn value(row: &Self::Row, column: Slot<Self::Col>) -> Value;
    /// The value of the further argument `k` (of [`Self::MORE_ARGUMENTS`]) in `row`.
    fn more_argument(_row: &Self::Row, _k: usize) -> Value {
        Value::Null
    }
    /// The rowid of `row` (its pid).
    fn rowid(row: &Self::Row) -> i64;
}

/// A column of a function's table, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot<C> {
    /// One of its `COLUMNS`.
    Column(C),
    /// One of its `EXTRA` columns, by its position among them.
    Extra(usize),
    /// The hidden argument column.
    Argument,
}

/// The column at position `col` of function `F`'s table, if any.
pub(crate) fn slot<F: TableFunction>(col: c_int) -> Option<Slot<F::Col>> {
    let i = usize::try_from(col).ok()?;
    if let Some(c) = F::COLUMNS.get(i) {
        return Some(Slot::Column(c.id));
    }
    let extra = i - F::COLUMNS.len();
    if extra < F::EXTRA.len() {
        Some(Slot::Extra(extra))
    } else if extra == F::EXTRA.len() {
        Some(Slot::Argument)
    } else {
        None
    }
}

/// The position among [`TableFunction::MORE_ARGUMENTS`] of the column at `col`, if it is one.
fn more_slot<F: TableFunction>(col: c_int) -> Option<usize> {
    let i = usize::try_from(col).ok()?;
    let k = i.checked_sub(F::COLUMNS.len() + F::EXTRA.len() + 1)?;
    (k < F::MORE_ARGUMENTS.len()).then_some(k)
}

/// `name` as text: in constants only, so a name that is not UTF-8 fails the build.
#[allow(clippy::panic)]
const fn text_name(name: &'static CStr) -> &'static str {
    match name.to_str() {
        Ok(text) => text,
        Err(_) => panic!("a table function's name is UTF-8"),
    }
}

/// Function `F`'s table declaration.
pub(crate) fn declare<F: TableFunction>() -> Result<CString> {
    let extra: String = F::EXTRA.iter().map(|c| format!("{c}, ")).collect();
    let mut hidden = F::ARGUMENT.to_owned();
    for more in F::MORE_ARGUMENTS {
        hidden.push_str(" HIDDEN, ");
        hidden.push_str(more);
    }
    declaration(F::TEXT_NAME, F::COLUMNS, &extra, &hidden)
}

/// The rows a cursor walks, from its `filter` to past the last.
pub(crate) trait Rows<R>: Default {
    /// The current row; `None` past the last.
    fn current(&self) -> Option<&R>;
    fn advance(&mut self);
    /// No rows (before `filter` loads them).
    fn clear(&mut self);
}

/// At most one row: nothing allocated.
impl<R> Rows<R> for Option<R> {
    fn current(&self) -> Option<&R> {
        self.as_ref()
    }
    fn advance(&mut self) {
        *self = None;
    }
    fn clear(&mut self) {
        *self = None;
    }
}

/// Any number of rows; `clear` keeps the allocation for the next `filter`.
pub(crate) struct Many<R> {
    rows: Vec<R>,
    at: usize,
}

impl<R> Default for Many<R> {
    fn default() -> Self {
        Many {
            rows: Vec::new(),
            at: 0,
        }
    }
}

impl<R> Many<R> {
    pub(crate) fn push(&mut self, row: R) {
        self.rows.push(row);
    }
    /// These rows instead.
    pub(crate) fn set(&mut self, rows: Vec<R>) {
        self.rows = rows;
        self.at = 0;
    }
}

impl<R> Rows<R> for Many<R> {
    fn current(&self) -> Option<&R> {
        self.rows.get(self.at)
    }
    fn advance(&mut self) {
        self.at += 1;
    }
    fn clear(&mut self) {
        self.rows.clear();
        self.at = 0;
    }
}

/// Register function `F` on `conn`, with `aux` as its shared state.
pub(crate) fn register<F: TableFunction>(conn: &Connection, aux: F::Aux) -> Result<()> {
    conn.create_module(F::NAME, &Tab::<F>::MODULE, Some(aux))
}

/// Function `F`'s virtual table.
#[repr(C)]
pub(crate) struct Tab<F: TableFunction> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
    aux: F::Aux,
}

impl<F: TableFunction> Tab<F> {
    const MODULE: Module<'static, Tab<F>> = Module::eponymous_only_module();
}

/// A cursor over function `F`'s rows.
#[repr(C)]
pub(crate) struct Cursor<F: TableFunction> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    aux: F::Aux,
    rows: F::Rows,
}

// SAFETY: `Tab` is `repr(C)` with `sqlite3_vtab` as its first field, as rusqlite's `VTab`
// requires; it holds no pointers into SQLite. Every callback runs under `guarded`: a panic
// becomes an SQL error, never an unwind across SQLite's frames (rusqlite does not catch it).
unsafe impl<'vtab, F: TableFunction> VTab<'vtab> for Tab<F> {
    type Aux = F::Aux;
    type Cursor = Cursor<F>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&F::Aux>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        guarded(F::TEXT_NAME, "connect", || {
            // Direct use only: a view or trigger stored in a database file (someone else's
            // schema) cannot call a function that reads processes (their environments, for
            // proc_marks and proc_spawned) behind the user's back, even with trusted_schema on.
            // TEMP views and triggers, which only the user can make, can.
            db.config(VTabConfig::DirectOnly)?;
            let tab = Tab {
                base: ffi::sqlite3_vtab::default(),
                aux: aux.cloned().unwrap_or_default(),
            };
            Ok((Cow::Owned(declare::<F>()?), tab))
        })
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded(F::TEXT_NAME, "best_index", || Ok(plan::<F>(info)))
    }

    fn open(&'vtab mut self) -> Result<Cursor<F>> {
        guarded(F::TEXT_NAME, "open", || {
            Ok(Cursor {
                base: ffi::sqlite3_vtab_cursor::default(),
                aux: self.aux.clone(),
                rows: F::Rows::default(),
            })
        })
    }
}

// SAFETY: `Cursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as rusqlite's
// `VTabCursor` requires. Every callback runs under `guarded`, as `Tab`'s.
unsafe impl<F: TableFunction> VTabCursor for Cursor<F> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded(F::TEXT_NAME, "filter", || {
            self.rows.clear();
            F::filter(&self.aux, &mut self.rows, idx_num, args)
        })
    }

    fn next(&mut self) -> Result<()> {
        guarded(F::TEXT_NAME, "next", || {
            self.rows.advance();
            Ok(())
        })
    }

    fn eof(&self) -> bool {
        // A panic ends the rows: eof has no error to give.
        guarded(F::TEXT_NAME, "eof", || Ok(self.rows.current().is_none())).unwrap_or(true)
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        guarded(F::TEXT_NAME, "column", || {
            let value = match (self.rows.current(), slot::<F>(i)) {
                (Some(row), Some(column)) => F::value(row, column),
                (Some(row), None) => {
                    more_slot::<F>(i).map_or(Value::Null, |k| F::more_argument(row, k))
                }
                _ => Value::Null,
            };
            ctx.set_result(&value)
        })
    }

    fn rowid(&self) -> Result<i64> {
        guarded(F::TEXT_NAME, "rowid", || {
            Ok(self.rows.current().map_or(0, F::rowid))
        })
    }
}

/// The plan of every function: the argument from the first usable `=` on a column for which
/// `is_argument` holds, `IDX_ARG | idx_bits` as `idx_num` and the function's estimate. Without
/// the argument, a plan SQLite avoids (the cursor then names the missing argument); with it only
/// from a table not yet scanned, `false`: SQLite must try another order.
fn plan<F: TableFunction>(info: &mut IndexInfo) -> bool {
    let mut chosen = None;
    let mut unusable = false;
    for (i, c) in info.constraints().enumerate() {
        if !slot::<F>(c.column()).is_some_and(F::is_argument)
            || c.operator() != IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ
        {
            continue;
        }
        if !c.is_usable() {
            unusable = true;
        } else if chosen.is_none() {
            chosen = Some(i);
        }
    }
    match chosen {
        Some(i) => {
            let mut usage = info.constraint_usage(i);
            usage.set_argv_index(1);
            usage.set_omit(true);
            if !plan_more_arguments::<F>(info) {
                return false;
            }
            let bits = F::idx_bits(info);
            info.set_idx_num(IDX_ARG | bits);
            info.set_estimated_cost(F::COST);
            info.set_estimated_rows(F::ROWS);
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

/// The further arguments' `=` constraints as argv 2, 3, ... in order, as far as each is given;
/// `false` when one is given only by a table not yet scanned (SQLite must try another order).
fn plan_more_arguments<F: TableFunction>(info: &mut IndexInfo) -> bool {
    let mut next: c_int = 2;
    for k in 0..F::MORE_ARGUMENTS.len() {
        let mut chosen = None;
        let mut unusable = false;
        for (i, c) in info.constraints().enumerate() {
            if more_slot::<F>(c.column()) != Some(k)
                || c.operator() != IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ
            {
                continue;
            }
            if !c.is_usable() {
                unusable = true;
            } else if chosen.is_none() {
                chosen = Some(i);
            }
        }
        match chosen {
            Some(i) => {
                let mut usage = info.constraint_usage(i);
                usage.set_argv_index(next);
                usage.set_omit(true);
                next += 1;
            }
            None if unusable => return false,
            // Not given: the later ones are not passed either (argv has no gaps).
            None => return true,
        }
    }
    true
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
pub(crate) fn assert_each_id_is_its_name<C: PartialEq + Copy + std::fmt::Debug, F>(
    columns: &[Column<C, F>],
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
        bitflags::bitflags! {
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            struct Files: u32 {
                const ONE = 1;
                const TWO = 1 << 1;
            }
        }
        let columns = [
            Column {
                id: C::A,
                name: "a",
                sql_type: "INTEGER",
                doc: "",
                reads: Files::ONE,
            },
            Column {
                id: C::B,
                name: "b",
                sql_type: "TEXT",
                doc: "",
                reads: Files::ONE.union(Files::TWO),
            },
        ];
        let decl = declaration("f", &columns, "depth INTEGER, ", "root").unwrap();
        assert_eq!(
            decl.to_str().unwrap(),
            "CREATE TABLE x(a INTEGER, b TEXT, depth INTEGER, root HIDDEN)"
        );
        assert_eq!(position(&columns, C::B), Some(1));
        // A plan reads the files of the columns used, no more (bit 0 is the argument's).
        assert_eq!(files_of::<Files>(files_plan(&columns, 0b01)), Files::ONE);
        assert_eq!(files_of::<Files>(files_plan(&columns, 0b10)), Files::all());
        assert_eq!(files_of::<Files>(files_plan(&columns, 0)), Files::empty());
        assert_eq!(files_plan(&columns, 0b10) & IDX_ARG, 0);
    }
}

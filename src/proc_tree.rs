//! `proc_tree(pid)`: an eponymous table-valued function, one row per process of the tree
//! rooted at `pid` (the root included, then its descendants breadth first, see
//! [`crate::tree`]): every `proc_stats` column, then `depth` (0 for the root). No row for NULL
//! or a pid that is gone; an SQL error naming the function for anything that is not an
//! integer pid. Each member is read as `proc_stats` reads one process, only the files the
//! query's columns need. Every callback is guarded: a panic becomes an SQL error.

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConfig, VTabConnection,
    VTabCursor,
};
use rusqlite::{Connection, Result, ffi};

use crate::cpu::CpuSampler;
use crate::process_row::{COLUMNS, Row, plan_bits, want_from_plan};
use crate::tree;
use crate::vtab::{self, IDX_ARG, argument_constraint};

pub const NAME: &str = "proc_tree";
/// Index of `depth`, after the `proc_stats` columns.
const COL_DEPTH: c_int = COLUMNS.len() as c_int;
/// Index of the hidden argument column, the tree's root.
const COL_ROOT: c_int = COL_DEPTH + 1;
/// `idx_num` bits: a `depth > n` or `depth >= n` constraint is the second argument.
const IDX_DEPTH_GT: c_int = 1 << 10;
const IDX_DEPTH_GE: c_int = 1 << 11;
/// What `depth` means, for the docs check.
pub const DEPTH_DOC: &str = "0 for the root, 1 for its children, and so on";

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    vtab::guarded(NAME, what, f)
}

/// Register `proc_tree` on `conn`; CPU samples are kept in `sampler`.
pub fn register(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    const MODULE: Module<ProcTreeTab> = Module::eponymous_only_module();
    conn.create_module(c"proc_tree", &MODULE, Some(sampler))
}

#[repr(C)]
struct ProcTreeTab {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
    sampler: Arc<CpuSampler>,
}

// SAFETY: `ProcTreeTab` is `repr(C)` with `sqlite3_vtab` as its first field, as rusqlite's
// `VTab` requires; it holds no pointers into SQLite.
unsafe impl<'vtab> VTab<'vtab> for ProcTreeTab {
    type Aux = Arc<CpuSampler>;
    type Cursor = ProcTreeCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&Arc<CpuSampler>>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        guarded("connect", || {
            // As proc_stats: direct SQL and the user's TEMP views only.
            db.config(VTabConfig::DirectOnly)?;
            let tab = ProcTreeTab {
                base: ffi::sqlite3_vtab::default(),
                sampler: aux.cloned().unwrap_or_default(),
            };
            Ok((
                Cow::Owned(vtab::declaration(NAME, COLUMNS, "depth INTEGER, ", "root")?),
                tab,
            ))
        })
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded("best_index", || {
            let (chosen, unusable) = argument_constraint(info, |col| col == COL_ROOT);
            // `depth > n` or `depth >= n`: members above that depth are not read at all (the
            // live view adds the root's own figures, already read, to its descendants'). SQLite
            // still checks the constraint on each row.
            let mut min_depth = None;
            for (i, c) in info.constraints().enumerate() {
                if c.column() != COL_DEPTH || !c.is_usable() {
                    continue;
                }
                match c.operator() {
                    IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GT => {
                        min_depth = Some((i, IDX_DEPTH_GT));
                        break;
                    }
                    IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GE => {
                        min_depth = Some((i, IDX_DEPTH_GE));
                        break;
                    }
                    _ => {}
                }
            }
            match chosen {
                Some(i) => {
                    let mut usage = info.constraint_usage(i);
                    usage.set_argv_index(1);
                    usage.set_omit(true);
                    let mut idx = IDX_ARG | plan_bits(info.col_used());
                    if let Some((j, bit)) = min_depth {
                        info.constraint_usage(j).set_argv_index(2);
                        idx |= bit;
                    }
                    info.set_idx_num(idx);
                    info.set_estimated_cost(10.0);
                    info.set_estimated_rows(10);
                    Ok(true)
                }
                // The root comes from a table not yet scanned: ask SQLite for another order.
                None if unusable => Ok(false),
                None => {
                    info.set_idx_num(0);
                    info.set_estimated_cost(1e12);
                    Ok(true)
                }
            }
        })
    }

    fn open(&'vtab mut self) -> Result<ProcTreeCursor<'vtab>> {
        Ok(ProcTreeCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            sampler: Arc::clone(&self.sampler),
            root: 0,
            rows: Vec::new(),
            at: 0,
            phantom: PhantomData,
        })
    }
}

#[repr(C)]
struct ProcTreeCursor<'vtab> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    sampler: Arc<CpuSampler>,
    root: i64,
    /// Each member's reading and its depth; members that ended during the walk are left out.
    rows: Vec<(Row, u32)>,
    at: usize,
    phantom: PhantomData<&'vtab ProcTreeTab>,
}

impl ProcTreeCursor<'_> {
    fn load(&mut self, idx_num: c_int, args: &Filters<'_>) -> Result<()> {
        self.rows.clear();
        self.at = 0;
        let Some(root) = vtab::pid_argument(NAME, idx_num, args)? else {
            return Ok(());
        };
        self.root = root.into();
        let want = want_from_plan(idx_num);
        // The shallowest depth a row may have (from `depth > n` / `depth >= n`).
        let bound = if idx_num & (IDX_DEPTH_GT | IDX_DEPTH_GE) != 0 && args.len() > 1 {
            match args.get::<Value>(1)? {
                Value::Integer(n) if idx_num & IDX_DEPTH_GT != 0 => n.saturating_add(1),
                Value::Integer(n) => n,
                Value::Real(r) if idx_num & IDX_DEPTH_GT != 0 => r.floor() as i64 + 1,
                Value::Real(r) => r.ceil() as i64,
                // Another type: SQLite's own check of each row decides.
                _ => 0,
            }
        } else {
            0
        };
        for member in tree::members(root) {
            if i64::from(member.depth) < bound {
                continue;
            }
            let row = Row::read(&self.sampler, member.pid, want);
            if row.info.is_some() {
                self.rows.push((row, member.depth));
            }
        }
        Ok(())
    }

    fn value(&self, col: c_int) -> Value {
        let Some((row, depth)) = self.rows.get(self.at) else {
            return Value::Null;
        };
        match usize::try_from(col).ok().and_then(|i| COLUMNS.get(i)) {
            Some(column) => column.id.value(row),
            None if col == COL_DEPTH => Value::Integer((*depth).into()),
            None if col == COL_ROOT => Value::Integer(self.root),
            None => Value::Null,
        }
    }
}

// SAFETY: `ProcTreeCursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as
// rusqlite's `VTabCursor` requires.
unsafe impl VTabCursor for ProcTreeCursor<'_> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded("filter", || self.load(idx_num, args))
    }

    fn next(&mut self) -> Result<()> {
        self.at += 1;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.at >= self.rows.len()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        guarded("column", || ctx.set_result(&self.value(i)))
    }

    fn rowid(&self) -> Result<i64> {
        Ok(self.rows.get(self.at).map_or(0, |(r, _)| r.pid))
    }
}

//! `proc_tree(pid)`: an eponymous table-valued function, one row per process of the tree
//! rooted at `pid` (the root included, then its descendants breadth first, see
//! [`crate::proc::tree`]): every `proc_stats` column, then `depth` (0 for the root). No row for NULL
//! or a pid that is gone; an SQL error naming the function for anything that is not an
//! integer pid. Each member is read as `proc_stats` reads one process, only the files the
//! query's columns need. Every callback is guarded: a panic becomes an SQL error.

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{Filters, IndexConstraintOp, IndexInfo};
use rusqlite::{Connection, Result};

use crate::proc::cpu::CpuSampler;
use crate::proc::tree;
use crate::surface::process_row::{COLUMNS, Col, ProcFiles, Row, plan_bits, want_from_plan};
use crate::surface::vtab::{self, Column, Many, Slot, TableFunction};

pub const NAME: &str = ProcTree::TEXT_NAME;
/// `depth`, after the `proc_stats` columns.
const DEPTH: Slot<Col> = Slot::Extra(0);
/// `idx_num` bits: a `depth > n` or `depth >= n` constraint is the second argument.
const IDX_DEPTH_GT: c_int = 1 << 10;
const IDX_DEPTH_GE: c_int = 1 << 11;
/// What `depth` means, for the docs check.
pub const DEPTH_DOC: &str = "0 for the root, 1 for its children, and so on";

/// Register `proc_tree` on `conn`; CPU samples are kept in `sampler`.
pub fn register(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    vtab::register::<ProcTree>(conn, sampler)
}

/// `proc_tree`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcTree;

/// A row: one member's reading, its depth and the tree's root (the argument).
struct Member {
    row: Row,
    depth: u32,
    root: i64,
}

impl TableFunction for ProcTree {
    const NAME: &'static CStr = c"proc_tree";
    type Col = Col;
    type Files = ProcFiles;
    const COLUMNS: &'static [Column<Col, ProcFiles>] = COLUMNS;
    const EXTRA: &'static [&'static str] = &["depth INTEGER"];
    const ARGUMENT: &'static str = "root";
    const COST: f64 = 10.0;
    const ROWS: i64 = 10;
    type Aux = Arc<CpuSampler>;
    type Row = Member;
    /// Members that ended during the walk are left out.
    type Rows = Many<Member>;

    fn idx_bits(info: &mut IndexInfo) -> c_int {
        // `depth > n` or `depth >= n`: members above that depth are not read at all (the live
        // view adds the root's own figures, already read, to its descendants'). SQLite still
        // checks the constraint on each row.
        let mut min_depth = None;
        for (i, c) in info.constraints().enumerate() {
            if vtab::slot::<Self>(c.column()) != Some(DEPTH) || !c.is_usable() {
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
        let mut idx = plan_bits(info.col_used());
        if let Some((j, bit)) = min_depth {
            info.constraint_usage(j).set_argv_index(2);
            idx |= bit;
        }
        idx
    }

    fn filter(
        sampler: &Arc<CpuSampler>,
        rows: &mut Many<Member>,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()> {
        let Some(root) = vtab::pid_argument(NAME, idx_num, args)? else {
            return Ok(());
        };
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
            let row = Row::read(sampler, member.pid, want);
            if row.info.is_some() {
                rows.push(Member {
                    row,
                    depth: member.depth,
                    root: root.into(),
                });
            }
        }
        Ok(())
    }

    fn value(member: &Member, column: Slot<Col>) -> Value {
        match column {
            Slot::Column(id) => id.value(&member.row),
            Slot::Extra(_) => Value::Integer(member.depth.into()),
            Slot::Argument => Value::Integer(member.root),
        }
    }

    fn rowid(member: &Member) -> i64 {
        member.row.pid
    }
}

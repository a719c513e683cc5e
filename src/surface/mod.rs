//! The SQL surface: the table-valued functions over [`crate::proc`] (one file each, on one
//! shell, [`vtab`]), the scalar functions, and the TEMP views installed from `sql/`. Knows
//! nothing of the shim (checked by `tests/it/layers.rs`).

pub mod board_file;
pub mod cgroup_row;
pub mod file_owner;
pub mod proc_cgroup;
pub mod proc_marks;
pub mod proc_scope;
pub mod proc_spawned;
pub mod proc_stats;
pub mod proc_tree;
pub mod process_row;
pub mod same_file;
pub mod settings;
pub mod version;
pub mod views;
pub mod vtab;

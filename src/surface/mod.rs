//! The SQL surface: the table-valued functions over [`crate::proc`] (one file each, on one
//! shell, `vtab`), the scalar functions, and the TEMP views installed from `sql/`. Knows
//! nothing of the shim (checked by `tests/it/layers.rs`).

pub(crate) mod board_file;
pub(crate) mod cgroup_row;
pub(crate) mod claim_host;
pub mod file_owner;
pub(crate) mod fingerprint_epoch;
pub(crate) mod part_of;
pub mod proc_cgroup;
pub mod proc_marks;
pub mod proc_scope;
pub mod proc_spawned;
pub(crate) mod proc_stats;
pub mod proc_tree;
pub mod process_row;
pub(crate) mod same_file;
pub(crate) mod settings;
pub mod version;
pub mod views;
pub(crate) mod vtab;

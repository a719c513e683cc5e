//! Board files as the owner finds them (`files`) and the read-only pool over one (`pool`).

mod files;
mod pool;

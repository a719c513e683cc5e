//! Board files as the owner finds them (`files`), every board at once (`every`) and the read-only pool over one (`pool`).

mod every;
mod files;
mod pool;

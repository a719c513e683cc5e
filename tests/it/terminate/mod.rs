//! Terminate (`signals`: the route, its grace and reclaim) and what it trusts (`trust`).

mod signals;
mod trust;

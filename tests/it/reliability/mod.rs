//! Reliability under stress (`stress`) and the resource bounds of the shim (`bounds`).

mod bounds;
mod stress;

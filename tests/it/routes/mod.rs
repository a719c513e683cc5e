//! The route contract (the real binary, `contract`) and routing properties (`prop`).

mod contract;
mod prop;

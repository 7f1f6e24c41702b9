//! The one integration-test binary (libtorch is linked once). Each module covers one area.

mod common;
mod convert;
mod dataflow;
mod dataflows_e2e;
mod docs;
mod eval;
mod fullsize;
mod golden;
mod hostile;
mod install;
mod live;
mod model;
mod nodes;
mod scorers;
mod settings;
mod tracker;
mod train;
mod vipt;

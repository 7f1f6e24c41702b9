//! Evaluation: the public toolkits' metric arithmetic ([`metrics`], [`multimodal`]), one file per
//! named protocol ([`protocols`]), and the `trackflow analyze` driver and report ([`analyze`]).
pub mod analyze;
pub mod metrics;
pub mod multimodal;
pub mod pack;
pub mod plot;
pub mod protocols;

//! Evaluation: the public toolkits' metric arithmetic ([`measures`], [`multimodal`]), one file per
//! named protocol ([`protocols`]), and the `trackflow analyze` driver and report ([`analyze`]).
pub mod analyze;
pub mod measures;
pub mod multimodal;
pub mod pack;
pub mod plot;
pub mod protocols;

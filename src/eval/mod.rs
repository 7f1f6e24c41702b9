//! Evaluation: the public toolkits' metrics as named protocols ([`metrics`]) and the
//! `trackflow analyze` report ([`analyze`]).
pub mod analyze;
pub mod metrics;
pub mod multimodal;
pub mod pack;
pub mod plot;

//! trackflow: OSTrack-family single-object tracking (ViT-B/16 one-stream with candidate
//! elimination, ECCV 2022; ViPT multi-modal prompts, CVPR 2023) in Rust on libtorch, run as
//! dora-rs dataflows described in KDL.
//!
//! The same library serves the fused path (`trackflow track`) and every node of the dataflows.
//! Its modules are layers; each imports only from the ones listed before it:
//!
//! | layer | what it holds |
//! |---|---|
//! | [`base`] | images and their decoding, drawing, the random generator, KDL reading and its diagnostics, presets, files, paths, devices |
//! | [`data`] | sequences in every benchmark layout, modalities, video, cameras, synthetic data, training datasets, result files |
//! | [`model`] | the network: ViT with candidate elimination, hybrid stem, center head, configs |
//! | [`tracker`] | OSTrack's crop and tracking loop on a model |
//! | [`train`] | the pair sampler, loss, optimizer, checkpoints and the training loop |
//! | [`eval`] | the public toolkits' metrics, reports, plots, submission packing |
//! | [`wire`] | the Arrow messages nodes exchange |
//! | [`nodes`] | the node kinds (top-level `nodes/`): each kind's declaration (ports, typed parameters) and loop in one file, the registry, the node runtime |
//! | [`dataflow`] | KDL graphs: decoding, checking against the kinds' declarations, dora descriptors, launching, drawing |
//! | [`cli`] | the `trackflow` command: arguments and one function per command |

pub mod base;
pub mod cli;
pub mod data;
pub mod dataflow;
pub mod eval;
pub mod model;
// The node kinds keep the product's top-level `nodes/` folder; they are compiled into this
// library and run as `trackflow node <kind>`.
#[path = "../nodes/mod.rs"]
pub mod nodes;
pub mod tracker;
pub mod train;
pub mod wire;

//! Settings are checked before anything starts. Property tests of the two settings readers:
//! config files and dataflows with any text, or any number in any key or parameter, give a
//! `Result`, never a panic, and whatever they accept lies in the declared ranges (so nodes and
//! the network can use it without dividing by zero or wrapping). Then the training command's
//! own checks: `--epochs` and the trainer's effective batch and sample counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use trackflow::base::diagnostic::{Problems, SourceFile};
use trackflow::dataflow::kinds::{NodeKind, ParamType};
use trackflow::dataflow::{ParamOverride, load, load_text, node_params};
use trackflow::model::Config;
use trackflow::nodes::registry::REGISTRY;

use crate::common::root;

fn config(text: &str) -> Result<Config, Problems> {
    Config::parse(Arc::new(SourceFile::from_text(Path::new("prop.kdl"), text.to_string())))
}

/// Modest case counts (each case is a whole parse, and the suite runs on small machines); no
/// regression files written into the tree.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

/// A value as a user might write one: integers small and huge, fractions, exponents, KDL's
/// special numbers, integers beyond `i64` and `i128`, and a few values that are not numbers.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-3i64..70_000).prop_map(|i| i.to_string()),
        2 => any::<i64>().prop_map(|i| i.to_string()),
        2 => (-2.0f64..300.0).prop_map(|f| format!("{f:?}")),
        1 => any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:e}") } else { "#nan".into() }),
        1 => prop::sample::select(vec![
            "#inf", "#-inf", "#nan", "0", "-0", "1e400", "0x7fffffffffffffffffff",
            "170141183460469231731687303715884105727", "1701411834604692317316873037158841057270",
            "#true", "#null", "\"text\"", "\"\"",
        ])
        .prop_map(str::to_string),
    ]
}

/// Config text setting random keys (each in a section block of its own) to 1–3 values.
fn config_text() -> impl Strategy<Value = String> {
    let entry = (prop::sample::select(Config::keys()), prop::collection::vec(value(), 1..4));
    prop::collection::vec(entry, 0..16).prop_map(|entries| {
        entries.iter().map(|((section, key), values)| format!("{section} {{\n    {key} {}\n}}\n", values.join(" "))).collect()
    })
}

/// What a config that parsed promises the code that builds and trains the network.
fn assert_usable(c: &Config) {
    let (m, d, t) = (&c.model, &c.data, &c.train);
    assert!(m.num_heads >= 1 && m.embed_dim % m.num_heads == 0, "{m:?}");
    assert!(m.depth >= 1 && (m.embed_dim as f64 * m.mlp_ratio) as i64 >= 1 && m.head_channels / 8 >= 1, "{m:?}");
    assert!((0.0..1.0).contains(&m.drop_path), "{m:?}");
    assert!(m.ce_loc.len() == m.ce_keep_ratio.len() && m.ce_loc.iter().all(|l| (0..m.depth).contains(l)), "{m:?}");
    assert!(m.ce_keep_ratio.iter().all(|r| *r > 0.0 && *r <= 1.0), "{m:?}");
    assert!(m.patch_size >= 1 && d.template_size % m.patch_size == 0 && d.search_size % m.patch_size == 0, "{c:?}");
    assert!(c.template_feat() >= 1 && c.search_feat() >= 1, "{c:?}");
    for f in [c.test_template_factor(), c.test_search_factor(), c.test.size_update.unwrap_or(1.0)] {
        assert!(f.is_finite() && f > 0.0, "{c:?}");
    }
    assert!((0.0..=1.0).contains(&d.distractor_prob) && (0.0..=1.0).contains(&d.blur_prob), "{d:?}");
    assert!(t.epochs >= 1 && t.batch_size >= 1 && t.sample_per_epoch % t.batch_size == 0, "{t:?}");
    assert_eq!(t.schedule(1).map(|s| s.samples()), Ok(t.sample_per_epoch), "{t:?}");
    assert!(t.lr > 0.0 && t.grad_clip_norm > 0.0, "{t:?}");
    assert!(!t.datasets.is_empty() && t.datasets.len() == t.datasets_ratio.len(), "{t:?}");
    assert!(t.datasets_ratio.iter().all(|r| r.is_finite() && *r >= 0.0) && t.datasets_ratio.iter().sum::<f64>() > 0.0, "{t:?}");
}

/// Every numeric parameter of `kind` in `params` lies in its declared range.
fn assert_in_ranges(kind: &NodeKind, params: &BTreeMap<String, serde_json::Value>) {
    for spec in kind.params {
        let v = &params[spec.name];
        match spec.ty {
            ParamType::Int(r) => assert!(v.as_i64().is_some_and(|i| r.contains(i)), "{}.{} = {v}", kind.name, spec.name),
            ParamType::Float(r) => assert!(v.as_f64().is_some_and(|f| r.contains(f)), "{}.{} = {v}", kind.name, spec.name),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Any number in any config key: an error or a config the network can be built from.
    #[test]
    fn any_numbers_in_any_config_key(text in config_text()) {
        if let Ok(c) = config(&text) {
            assert_usable(&c);
        }
    }

    /// Any text as a config or a dataflow: a `Result`, never a panic, and its problems render
    /// (each located in the text, whatever spans the parser gives).
    #[test]
    fn any_text_is_a_result(text in prop_oneof!["\\PC{0,200}", "[a-z{}\"=#;. \n0-9/*-]{0,200}"]) {
        if let Err(p) = config(&text) {
            p.render(false);
        }
        if let Err(p) = load_text(&root().join("dataflows/_prop.kdl"), &text, &[]) {
            p.render(false);
        }
    }

    /// Any value for any parameter of any node kind: an error or values in the declared ranges.
    #[test]
    fn any_values_in_any_node_parameter(
        kind in 0..REGISTRY.len(),
        params in prop::collection::vec((any::<prop::sample::Index>(), value()), 0..8),
    ) {
        let kind = REGISTRY[kind].kind;
        // Required parameters are given, so that values can pass.
        let mut line: Vec<String> = kind.params.iter().filter(|p| p.default.is_none()).map(|p| format!("{}=\"x\"", p.name)).collect();
        line.extend(params.iter().map(|(i, v)| format!("{}={v}", kind.params[i.index(kind.params.len())].name)));
        if let Ok(values) = node_params(kind.name, &line.join(" ")) {
            assert_in_ranges(kind, &values);
        }
    }

    /// Any `--set` text on the training dataflow: a `Result`, and what passes is in range.
    #[test]
    fn any_set_on_the_training_dataflow(sets in prop::collection::vec(
        prop_oneof![
            (prop::sample::select(vec!["trainer", "sampler", "checkpoint", "metrics"]), "[a-z-]{1,16}", value())
                .prop_map(|(n, k, v)| format!("{n}.{k}={v}")),
            (prop::sample::select(vec!["trainer.batch-size", "trainer.epochs", "trainer.sample-per-epoch", "trainer.threads", "sampler.workers"]), value())
                .prop_map(|(k, v)| format!("{k}={v}")),
            "\\PC{0,40}",
        ],
        0..4,
    )) {
        let sets: Vec<ParamOverride> = sets.into_iter().map(|text| ParamOverride { text }).collect();
        if let Ok(flow) = load(&root().join("dataflows/train.kdl"), &sets) {
            for node in &flow.nodes {
                if let trackflow::dataflow::Target::Kind(k) = node.target {
                    assert_in_ranges(k, &node.params);
                }
            }
        }
    }
}

/// `--epochs` takes 1 or more: 0 and -1 are refused by the command line, not silently read as
/// "the config's" by the trainer.
#[test]
fn epochs_below_one_are_refused_by_the_command_line() {
    use clap::Args;
    let parse = |epochs: &str| {
        trackflow::cli::train::TrainArgs::augment_args(clap::Command::new("train"))
            .try_get_matches_from(["train", "ostrack", "tiny", "--epochs", epochs])
            .map(|m| m.get_one::<i64>("epochs").copied())
            .map_err(|e| e.to_string())
    };
    assert_eq!(parse("3"), Ok(Some(3)));
    for bad in ["0", "-1"] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains("train at least 1"), "{bad}: {e}");
    }
    assert!(parse("three").unwrap_err().contains("not a whole number"));
}

/// The trainer's effective settings (the config's, or overrides where not 0) are checked by
/// `trackflow train` before dora starts: an epoch without a whole batch is an error, an epoch
/// that is not whole batches is said.
#[test]
fn the_trainer_plan_is_checked_before_starting() {
    use trackflow::cli::train::plan;
    let cfg = Config::from_name("tiny").unwrap();
    let params = |v: serde_json::Value| -> BTreeMap<String, serde_json::Value> { serde_json::from_value(v).unwrap() };
    // 0 keeps the config's values: 40 epochs of 4000 samples in batches of 16.
    let p = plan(&cfg, &params(serde_json::json!({"epochs": 0, "sample-per-epoch": 0, "batch-size": 0, "devices": ""}))).unwrap();
    assert_eq!((p.epochs, p.schedule.batches, p.schedule.global_batch, p.note), (40, 250, 16, None));
    // 18 samples in batches of 4: 16 are trained, and the run says so.
    let p = plan(&cfg, &params(serde_json::json!({"epochs": 2, "sample-per-epoch": 18, "batch-size": 4}))).unwrap();
    assert_eq!((p.epochs, p.schedule.samples()), (2, 16));
    let note = p.note.unwrap();
    assert!(note.contains("sample-per-epoch 18 is not a multiple of the global batch 4") && note.contains("16 samples"), "{note}");
    // Two replicas double the global batch.
    let p = plan(&cfg, &params(serde_json::json!({"sample-per-epoch": 16, "batch-size": 4, "devices": "cuda:0,cuda:1"}))).unwrap();
    assert_eq!((p.schedule.global_batch, p.schedule.batches, p.note), (8, 2, None));
    // Fewer samples than one global batch: nothing would train.
    let e = plan(&cfg, &params(serde_json::json!({"sample-per-epoch": 2, "batch-size": 4}))).unwrap_err().to_string();
    assert!(e.contains("sample-per-epoch 2 is smaller than the global batch 4"), "{e}");
}

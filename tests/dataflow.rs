//! The KDL dataflow language: every shipped and documented dataflow checks, every class of
//! mistake is reported with its line and column, and the dora YAML is pinned by snapshots.

use std::path::{Path, PathBuf};

use trackflow::base::diagnostic::Problems;
use trackflow::dataflow::dora::{NodeProgram, to_yaml};
use trackflow::dataflow::{InputSource, ParamOverride, Target, load, load_text};

use crate::common::root;

fn kdl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            kdl_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "kdl") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_dataflow_checks() {
    let mut files = Vec::new();
    kdl_files(&root().join("dataflows"), &mut files);
    assert!(files.len() >= 5, "dataflows/ has the tracking graph and its ablations");
    for f in files {
        if let Err(p) = load(&f, &[]) {
            panic!("{}:\n{}", f.display(), p.render(false));
        }
    }
}

/// ```kdl blocks of the README and the book (docs/src/): dataflows must check, configs must
/// parse.
#[test]
fn every_kdl_block_in_the_docs_parses() {
    let mut docs = vec![root().join("README.md")];
    let mut folders = vec![root().join("docs/src")];
    while let Some(d) = folders.pop() {
        for p in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                folders.push(p);
            } else if p.extension().is_some_and(|e| e == "md") {
                docs.push(p);
            }
        }
    }
    let mut blocks = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut in_block = false;
        let mut cur = String::new();
        let mut start = 0;
        for (i, line) in text.lines().enumerate() {
            if !in_block && line.trim_start().starts_with("```kdl") {
                in_block = true;
                cur.clear();
                start = i + 1;
            } else if in_block && line.trim_start().starts_with("```") {
                in_block = false;
                blocks += 1;
                let is_config = ["model {", "data {", "train {", "test {"].iter().any(|s| cur.contains(s));
                let is_local = cur.trim_start().starts_with("datasets {");
                // Snippets are read as if they sat in dataflows/, where their includes point.
                let fake = root().join("dataflows").join(format!("_doc_{}_{start}.kdl", doc.file_stem().unwrap().to_string_lossy()));
                if is_local {
                    let doc = kdl::KdlDocument::parse_v2(&cur).unwrap_or_else(|e| panic!("{}:{start}: invalid KDL: {e:?}", doc.display()));
                    assert!(doc.get("datasets").is_some());
                } else if is_config {
                    let file = std::sync::Arc::new(trackflow::base::diagnostic::SourceFile::from_text(&fake, cur.clone()));
                    if let Err(p) = trackflow::model::Config::parse(file) {
                        panic!("{}:{start}: config block does not parse:\n{}", doc.display(), p.render(false));
                    }
                } else if let Err(p) = load_text(&fake, &cur, &[]) {
                    panic!("{}:{start}: dataflow block does not check:\n{}", doc.display(), p.render(false));
                }
            } else if in_block {
                cur.push_str(line);
                cur.push('\n');
            }
        }
    }
    assert!(blocks >= 4, "the README documents the language with examples ({blocks} found)");
}

fn problems(text: &str) -> Problems {
    let path = root().join("dataflows").join("_broken.kdl");
    match load_text(&path, text, &[]) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(p) => p,
    }
}

/// Asserts one problem whose message contains `msg` sits at `line:col`.
fn assert_problem(p: &Problems, msg: &str, line: usize, col: usize) {
    let hit = p.0.iter().find(|x| x.message.contains(msg)).unwrap_or_else(|| panic!("no problem mentions `{msg}`:\n{}", p.render(false)));
    let (l, c) = hit.file.line_col(hit.span.offset());
    assert_eq!((l, c), (line, col), "`{msg}` reported at the wrong place:\n{}", p.render(false));
}

const GOOD: &str = r#"node "source" kind="source" {
    param path="../demo/sequence"
    input "box" from="head/box" feedback=#true
}
node "crop" kind="crop" {
    input "frame" from="source/frame"
    input "box" from="head/box" feedback=#true
}
node "backbone" kind="backbone" {
    input "template" from="crop/template"
    input "search" from="crop/search"
}
node "head" kind="head" {
    input "features" from="backbone/features"
}
node "writer" kind="writer" {
    input "box" from="head/box"
}
"#;

#[test]
fn good_graph_checks_and_defaults_are_filled() {
    let flow = load_text(&root().join("dataflows/_good.kdl"), GOOD, &[]).unwrap_or_else(|p| panic!("{}", p.render(false)));
    assert_eq!(flow.nodes.len(), 5);
    let head = flow.node("head").unwrap();
    assert_eq!(head.params["hann"], serde_json::json!(true));
    assert!(head.params["config"].as_str().unwrap().ends_with("configs/ostrack/mobile.kdl"));
    let src = flow.node("source").unwrap();
    assert!(Path::new(src.params["path"].as_str().unwrap()).is_absolute(), "paths are resolved against the file");
    assert!(matches!(src.target, Target::Kind(k) if k.name == "source"));
}

#[test]
fn all_errors_are_reported_at_once_with_line_and_column() {
    let text = r#"node "source" kind="sauce" {
    param path="x"
}
node "crop" kind="crop" {
    param config="tiny" colour=3
    input "frame" from="nowhere/frame"
    input "box" from="head/boxes" feedback=#true
}
node "crop" kind="crop"
node "backbone" kind="backbone" {
    param ce="yes"
    input "template" from="crop/template"
    input "search" from="crop/search"
}
node "head" kind="head" {
    input "features" from="crop/search"
}
include "missing-file.kdl"
"#;
    let p = problems(text);
    assert_problem(&p, "unknown node kind `sauce`", 1, 15);
    assert_problem(&p, "has no parameter `colour`", 5, 25);
    assert_problem(&p, "reads from node `nowhere`", 6, 19);
    assert_problem(&p, "node `head` has no output `boxes`", 7, 17);
    assert_problem(&p, "duplicate node id `crop`", 9, 6);
    assert_problem(&p, "parameter `ce` of `backbone` must be #true or #false", 11, 11);
    assert_problem(&p, "takes features messages, but `crop/search` sends crop messages", 16, 22);
    assert_problem(&p, "cannot read included file", 18, 9);
    assert!(p.len() >= 8, "{}", p.render(false));
    let rendered = p.render(false);
    assert!(rendered.contains("_broken.kdl:5:25: error:"), "compiler-style summary lines:\n{rendered}");
    assert!(rendered.contains("help:"), "help lines:\n{rendered}");
}

#[test]
fn a_cycle_must_be_declared_feedback() {
    let text = GOOD.replace(
        r#"input "box" from="head/box" feedback=#true
}
node "backbone""#,
        r#"input "box" from="head/box"
}
node "backbone""#,
    );
    let p = problems(&text);
    assert_problem(&p, "cycle in the dataflow: backbone → head → crop → backbone", 14, 22);
    assert!(p.render(false).contains("feedback=#true"));
}

#[test]
fn syntax_errors_point_into_the_file() {
    let p = problems("node \"a\" kind=\"source\" {\n    param path=\"x\n}\n");
    assert!(p.0[0].message.starts_with("invalid KDL"), "{}", p.render(false));
    assert_eq!(p.0[0].file.line_col(p.0[0].span.offset()).0, 2);
}

#[test]
fn missing_required_things_are_named() {
    let p = problems(
        "node \"crop\" kind=\"crop\" {\n    input \"frame\" from=\"x/y\" queue=0\n}\nnode \"s\" kind=\"source\"\nnode \"q\"\nwidget 3\n",
    );
    let r = p.render(false);
    for want in [
        "needs input `box`",
        "needs parameter `path`",
        "has neither `kind` nor `path`",
        "unknown statement `widget`",
        "`queue` is a whole number",
    ] {
        assert!(r.contains(want), "missing `{want}` in:\n{r}");
    }
}

#[test]
fn include_override_and_remove_make_short_ablations() {
    let text = r#"include "track.kdl"
remove "crop" "backbone" "head"
node "tracker" kind="tracker" { input "frame" from="source/frame"; }
override "source" { input "box" from="tracker/box" feedback=#true; }
override "writer" { input "box" from="tracker/box"; param out="/tmp/x"; }
override "viewer" { input "box" from="tracker/box"; }
"#;
    let flow = load_text(&root().join("dataflows/_ablation.kdl"), text, &[]).unwrap_or_else(|p| panic!("{}", p.render(false)));
    let ids: Vec<&str> = flow.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["source", "writer", "viewer", "tracker"]);
    let w = flow.node("writer").unwrap();
    assert_eq!(w.inputs[0].source, InputSource::Node { node: "tracker".into(), output: "box".into() });
    assert_eq!(w.params["out"], serde_json::json!("/tmp/x"));
    // Included paths stay relative to the included file.
    assert_eq!(Path::new(flow.node("source").unwrap().params["path"].as_str().unwrap()), root().join("demo/carphone"));
}

#[test]
fn command_line_overrides_are_typed_and_located() {
    let path = root().join("dataflows/track.kdl");
    let sets = |v: &[&str]| v.iter().map(|s| ParamOverride { text: s.to_string() }).collect::<Vec<_>>();
    let flow = load(&path, &sets(&["head.hann=#false", "source.credits=4"])).unwrap();
    assert_eq!(flow.node("head").unwrap().params["hann"], serde_json::json!(false));
    assert_eq!(flow.node("source").unwrap().params["credits"], serde_json::json!(4));
    let p = load(&path, &sets(&["head.hann=maybe", "nobody.x=1", "head.colour=2"])).unwrap_err();
    let r = p.render(false);
    assert!(r.contains("--set:1:11: error: parameter `hann` of `head` must be"), "{r}");
    assert!(r.contains("no node `nobody`"), "{r}");
    assert!(r.contains("has no parameter `colour`"), "{r}");
}

/// The generated YAML, with machine-specific paths replaced, is pinned by a snapshot.
/// Regenerate with UPDATE_SNAPSHOTS=1 after an intended change.
#[test]
fn dora_yaml_snapshots() {
    let bins = NodeProgram(PathBuf::from("/BIN/trackflow"));
    for name in ["track", "ablations/fused"] {
        let sets = [ParamOverride { text: "writer.out=\"/tmp/$HOME/results\"".into() }];
        let flow = load(&root().join("dataflows").join(format!("{name}.kdl")), &sets).unwrap();
        let yaml = to_yaml(&flow, &bins)
            .unwrap()
            .replace(&trackflow::base::resources::root().display().to_string(), "@FILES@")
            .replace(&root().display().to_string(), "@ROOT@");
        let snap = root().join("tests/snapshots").join(format!("{}.yml", name.replace('/', "-")));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !snap.exists() {
            std::fs::create_dir_all(snap.parent().unwrap()).unwrap();
            std::fs::write(&snap, &yaml).unwrap();
        }
        let want = std::fs::read_to_string(&snap).unwrap();
        assert_eq!(yaml, want, "{name}: generated YAML changed; if intended, rerun with UPDATE_SNAPSHOTS=1");
        // And dora's own parser accepts it, `$` in paths included.
        let d: dora_message::descriptor::Descriptor = serde_yaml::from_str(&yaml).unwrap();
        let writer = d.nodes.iter().find(|n| n.id.to_string() == "writer").unwrap();
        let params = writer.env.as_ref().unwrap()["TRACKFLOW_PARAMS"].to_string();
        let v: serde_json::Value = serde_json::from_str(&params).unwrap();
        assert_eq!(v["out"], "/tmp/$HOME/results", "dora must not expand `$` inside parameters");
    }
}

/// Regression: two runs of one dataflow with different `--set` values wrote the same YAML, so
/// one run could execute the other's parameters (seen when the tests ran in parallel).
#[test]
fn runs_with_different_parameters_get_their_own_yaml() {
    use trackflow::dataflow::dora::{write_yaml, yaml_path};
    let bins = NodeProgram(PathBuf::from("/BIN/trackflow"));
    let path = root().join("dataflows/track.kdl");
    let set = |v: &str| vec![ParamOverride { text: format!("writer.out=\"/tmp/{v}\"") }];
    let a = write_yaml(&load(&path, &set("a")).unwrap(), &bins).unwrap();
    let b = write_yaml(&load(&path, &set("b")).unwrap(), &bins).unwrap();
    let plain = write_yaml(&load(&path, &[]).unwrap(), &bins).unwrap();
    assert_ne!(a, b);
    assert!(plain.file_name().unwrap().to_string_lossy().starts_with("track"), "{}", plain.display());
    assert!(std::fs::read_to_string(&a).unwrap().contains("/tmp/a") && std::fs::read_to_string(&b).unwrap().contains("/tmp/b"));
    // Files outside the project with the same name do not collide either.
    assert_ne!(yaml_path(Path::new("/x/flow.kdl"), None), yaml_path(Path::new("/y/flow.kdl"), None));
}

#[test]
fn include_cycles_are_named() {
    let dir = crate::common::TempDir::new("cycle");
    std::fs::write(dir.path().join("a.kdl"), "include \"b.kdl\"\n").unwrap();
    std::fs::write(dir.path().join("b.kdl"), "include \"a.kdl\"\n").unwrap();
    let p = load(&dir.path().join("a.kdl"), &[]).unwrap_err();
    let r = p.render(false);
    assert!(r.contains("include cycle: a.kdl → b.kdl → a.kdl"), "{r}");
}

/// Deeply nested KDL is a clear error (the parser would overflow its stack), and random or
/// adversarial text never panics the checker: fuzzed with a fixed-seed generator over KDL's
/// alphabet, valid fragments and their mutations.
#[test]
fn deep_and_random_kdl_never_crash_the_checker() {
    let path = root().join("dataflows/fuzz.kdl");
    let deep = "node \"a\" kind=\"source\" ".to_string() + &"x {".repeat(1500) + &"}".repeat(1500);
    let e = trackflow::dataflow::load_text(&path, &deep, &[]).unwrap_err().render(false);
    assert!(e.contains("nested more than 64 levels"), "{e}");
    let cfg = trackflow::model::Config::parse(std::sync::Arc::new(trackflow::base::diagnostic::SourceFile::from_text(&path, deep.clone())));
    assert!(cfg.unwrap_err().render(false).contains("nested more than 64 levels"));
    // Braces in strings and comments do not count; 64 real levels are fine for the parser.
    let quoted = format!("a \"{}\" /* {{{{{{ */ #\"{}\"# // {}\n", "{".repeat(200), "{".repeat(200), "{".repeat(200));
    assert!(trackflow::base::kdl::too_deep(&quoted).is_none());
    assert!(trackflow::base::kdl::too_deep(&("a {".repeat(64) + &"}".repeat(64))).is_none());

    let seeds = std::fs::read_to_string(root().join("dataflows/track.kdl")).unwrap();
    let alphabet: Vec<char> =
        "node kind=\"source\" param input from=\"a/b\" {}{}();#true #false -1.5e3 \\ / * \" \n\r\t=#null r#\"x\"# é \u{0}"
            .chars()
            .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..400 {
        let text: String = if case % 2 == 0 {
            (0..(next() % 200)).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        } else {
            // A real dataflow with a few bytes cut, duplicated or replaced.
            let mut chars: Vec<char> = seeds.chars().collect();
            for _ in 0..1 + next() % 6 {
                let at = (next() % chars.len() as u64) as usize;
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, c),
                    _ => chars[at] = c,
                }
            }
            chars.into_iter().collect()
        };
        let _ = std::panic::catch_unwind(|| trackflow::dataflow::load_text(&path, &text, &[]))
            .unwrap_or_else(|_| panic!("case {case}: the checker panicked on {text:?}"));
    }
}

/// A config given as a relative path resolves to an absolute one: nodes run in another folder,
/// so `trackflow train ostrack my/cfg.kdl` must not hand them a path relative to the caller.
#[test]
fn a_relative_config_path_becomes_absolute() {
    let p = trackflow::base::presets::resolve_config("configs/ostrack/tiny.kdl", std::path::Path::new(".")).unwrap();
    assert!(std::path::Path::new(&p).is_absolute() && std::path::Path::new(&p).is_file(), "{p}");
    assert!(trackflow::base::presets::resolve_config("configs/ostrack/nope.kdl", std::path::Path::new(".")).is_err());
}

/// `trackflow run` shows the nodes' own lines and dora's warnings and errors; dora's progress
/// chatter only goes to the log file.
#[test]
fn the_console_shows_node_lines_and_dora_problems_only() {
    use trackflow::dataflow::launch::console_line;
    assert_eq!(
        console_line("23:45:41 stdout source: [source] 1 sequence(s), 120 frames").as_deref(),
        Some("[source] 1 sequence(s), 120 frames")
    );
    assert_eq!(console_line("\u{1b}[2m23:45:41\u{1b}[0m stdout writer: [writer] a: b").as_deref(), Some("[writer] a: b"));
    // Library warnings carry no node id of their own: the console line gets it, so LogTail shows it.
    assert_eq!(
        console_line("23:45:41 stdout sampler: warning: skipping unreadable image /d/1.jpg: bad").as_deref(),
        Some("[sampler] warning: skipping unreadable image /d/1.jpg: bad")
    );
    assert_eq!(console_line("23:45:39 INFO   crop: spawner spawning `x` in `y`"), None);
    assert_eq!(console_line("20:28:38 DEBUG  checkpoint: daemon::spawner spawning node"), None);
    assert_eq!(console_line("checkpoint: DEBUG    building node"), None);
    assert!(console_line("23:46:06 ERROR  head: daemon head failed").is_some());
    assert!(console_line("\u{1b}[2m2026-12-01T23:46:06Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m dora_daemon: slow").is_some());
}

/// An unknown node kind is one error, not one more for every edge that reads from that node.
#[test]
fn an_unknown_kind_is_reported_once() {
    let text =
        "node \"src\" kind=\"sourse\" {\n    param path=\"x\"\n}\nnode \"w\" kind=\"writer\" {\n    input \"box\" from=\"src/frame\"\n}\n";
    let problems = trackflow::dataflow::load_text(std::path::Path::new("flow.kdl"), text, &[]).unwrap_err();
    let all = problems.render(false);
    assert!(all.contains("unknown node kind `sourse`") && all.contains("did you mean `source`"), "{all}");
    assert!(!all.contains("not in this dataflow"), "{all}");
}

/// Numeric parameters declare their range with their kind; a value out of it is a located
/// error, whether written in the file or given with `--set` (a port no longer wraps to u16).
#[test]
fn parameters_out_of_range_are_located_errors() {
    let sets = |v: &[&str]| v.iter().map(|s| ParamOverride { text: s.to_string() }).collect::<Vec<_>>();
    let live = root().join("dataflows/live.kdl");
    let r = load(&live, &sets(&["view.port=70000"])).unwrap_err().render(false);
    assert!(r.contains("--set:1:11: error: parameter `port` of `live-view` = 70000 is out of range 0..=65535"), "{r}");
    assert!(load(&live, &sets(&["view.port=0"])).is_ok(), "0: any free port");

    // The trainer's overrides: 0 keeps the config's value, a negative one is refused.
    let train = root().join("dataflows/train.kdl");
    let flow = load(&train, &sets(&["trainer.batch-size=0", "trainer.epochs=0"])).unwrap_or_else(|p| panic!("{}", p.render(false)));
    assert_eq!(flow.node("trainer").unwrap().params["batch-size"], serde_json::json!(0));
    let r = load(&train, &sets(&["trainer.batch-size=-1", "trainer.epochs=-1", "trainer.threads=100000", "sampler.workers=0"]))
        .unwrap_err()
        .render(false);
    for want in [
        "parameter `batch-size` of `trainer` = -1 is out of range 0..=65536",
        "parameter `epochs` of `trainer` = -1 is out of range 0..=1000000",
        "parameter `threads` of `trainer` = 100000 is out of range 0..=4096",
        "parameter `workers` of `sampler` = 0 is out of range 1..=256",
    ] {
        assert!(r.contains(want), "missing `{want}` in:\n{r}");
    }

    // In the file: pointed at the value, with the parameter's doc as help.
    let text = GOOD.replace("param path=\"../demo/sequence\"", "param path=\"../demo/sequence\" credits=0 idle-timeout=#inf");
    let p = problems(&text);
    assert_problem(&p, "parameter `credits` of `source` = 0 is out of range 1..=1024", 2, 35);
    assert_problem(&p, "parameter `idle-timeout` of `source` = inf is out of range (0, 1000000000]", 2, 45);
}

/// Every built-in default lies in its parameter's range (a default that did not would be
/// dropped silently before; now it is reported, and this keeps it from happening).
#[test]
fn every_default_is_in_its_range() {
    for kind in trackflow::nodes::registry::kinds() {
        let required: Vec<String> = kind.params.iter().filter(|p| p.default.is_none()).map(|p| format!("{}=\"x\"", p.name)).collect();
        if let Err(p) = trackflow::dataflow::node_params(kind.name, &required.join(" ")) {
            panic!("kind `{}`:\n{}", kind.name, p.render(false));
        }
    }
}

/// A node whose program does not exist is reported with the other problems, located at the
/// `kind=` or `path=` that names it.
#[test]
fn missing_programs_are_reported_with_the_rest() {
    let dir = crate::common::TempDir::new("programs");
    let text = "node \"w\" kind=\"writer\" {\n    param colour=1\n    input \"box\" from=\"mine/box\"\n}\nnode \"mine\" path=\"bin/my-node\" {\n    output \"box\" type=\"box\"\n}\n";
    let file = dir.path().join("flow.kdl");
    std::fs::write(&file, text).unwrap();
    let bins = NodeProgram(dir.path().join("no-bin/trackflow"));
    let p = trackflow::dataflow::load_for_run(&file, &[], &bins).unwrap_err();
    assert_problem(&p, "node `w`: its program", 1, 10);
    assert_problem(&p, "node `mine`: its program", 5, 13);
    assert_problem(&p, "has no parameter `colour`", 2, 11);
    let r = p.render(false);
    assert!(r.contains("no-bin/trackflow does not exist") && r.contains("scripts/setup"), "{r}");
    // With the programs in place only the parameter is wrong; `load` does not look for programs.
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/my-node"), "").unwrap();
    std::fs::create_dir_all(bins.0.parent().unwrap()).unwrap();
    std::fs::write(&bins.0, "").unwrap();
    let p = trackflow::dataflow::load_for_run(&file, &[], &bins).unwrap_err();
    assert_eq!(p.len(), 1, "{}", p.render(false));
    assert_eq!(load(&file, &[]).unwrap_err().len(), 1);
}

/// Thousands of problems are found and rendered in time linear in their number: locating each
/// one used to scan the file from its start (20,000 bad nodes took over two minutes).
#[test]
fn many_problems_are_checked_and_rendered_quickly() {
    let n = 10_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "node \"n{i}\" kind=\"writer\" {{\n    param stamps=3\n    input \"box\" from=\"n{}/box\"\n}}\n",
            (i + 1) % n
        ));
    }
    // And as many duplicate ids, overrides and removals of nodes that do not exist.
    for i in 0..n {
        text.push_str(&format!("node \"n{i}\" kind=\"writer\"\noverride \"ghost{i}\" {{ }}\n"));
    }
    let started = std::time::Instant::now();
    let p = load_text(&root().join("dataflows/_many.kdl"), &text, &[]).unwrap_err();
    let rendered = p.render(false);
    let took = started.elapsed();
    assert!(p.len() >= 3 * n, "{} problems", p.len());
    assert!(took < std::time::Duration::from_secs(60), "{n} × 3 problems took {took:?}");
    // Snippet headers and summary lines agree on where the last problem is.
    let last_line = 6 * n;
    assert!(rendered.contains(&format!("_many.kdl:{last_line}:10: error: `override` names node `ghost{}`", n - 1)), "summary line");
    assert!(rendered.contains(&format!("_many.kdl:{last_line}:10]")), "snippet header");
    // Help lines stay short however many nodes there are.
    let help = rendered.lines().find(|l| l.contains("nodes defined so far")).unwrap();
    assert!(help.len() < 400 && help.contains(&format!("({n} in all)")), "{help}");
}

/// A long chain of nodes is checked without recursion (a deep search would overflow the stack).
#[test]
fn a_long_chain_is_checked_without_recursion() {
    let n = 20_000;
    let mut text = String::from("node \"n0\" path=\"x\" {\n    output \"o\"\n}\n");
    for i in 1..n {
        text.push_str(&format!("node \"n{i}\" path=\"x\" {{\n    input \"i\" from=\"n{}/o\"\n    output \"o\"\n}}\n", i - 1));
    }
    // Closing the loop makes one cycle through every node.
    text = text.replacen("output \"o\"\n}\n", &format!("input \"i\" from=\"n{}/o\"\n    output \"o\"\n}}\n", n - 1), 1);
    // 1 MiB: a recursive search needs a frame per node, megabytes for this chain.
    let p = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || load_text(&root().join("dataflows/_chain.kdl"), &text, &[]).map(|f| f.nodes.len()).map_err(|p| p.len()))
        .unwrap()
        .join()
        .expect("the checker does not overflow a small stack");
    assert_eq!(p, Err(1), "one cycle");
}

/// A listing piped into a reader that stops early (`trackflow kinds | head`) ends quietly, as
/// other Unix tools do, instead of panicking on the closed pipe.
#[test]
fn a_listing_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut c = crate::common::trackflow();
    c.arg("kinds").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // The reader goes before the program has printed anything (it is still starting).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
}

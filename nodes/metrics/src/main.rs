//! trackflow's `metrics` node (see `trackflow::nodes::metrics`).

fn main() {
    trackflow::nodes::node_main("metrics", trackflow::nodes::metrics::run)
}

//! trackflow's `source` node (see `trackflow::nodes::source`).

fn main() {
    trackflow::nodes::node_main("source", trackflow::nodes::source::run)
}

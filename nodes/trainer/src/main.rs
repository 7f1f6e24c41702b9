//! trackflow's `trainer` node (see `trackflow::nodes::trainer`).

fn main() {
    trackflow::nodes::node_main("trainer", trackflow::nodes::trainer::run)
}

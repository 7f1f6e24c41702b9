//! trackflow's `tracker` node (see `trackflow::nodes::tracker`).

fn main() {
    trackflow::nodes::node_main("tracker", trackflow::nodes::tracker::run)
}

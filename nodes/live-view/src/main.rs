//! trackflow's `live-view` node (see `trackflow::nodes::live_view`).

fn main() {
    trackflow::nodes::node_main("live-view", trackflow::nodes::live_view::run)
}

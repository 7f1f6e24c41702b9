//! trackflow's `checkpoint` node (see `trackflow::nodes::checkpoint`).

fn main() {
    trackflow::nodes::node_main("checkpoint", trackflow::nodes::checkpoint::run)
}

//! trackflow's `head` node (see `trackflow::nodes::head`).

fn main() {
    trackflow::nodes::node_main("head", trackflow::nodes::head::run)
}

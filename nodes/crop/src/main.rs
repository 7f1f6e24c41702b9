//! trackflow's `crop` node (see `trackflow::nodes::crop`).

fn main() {
    trackflow::nodes::node_main("crop", trackflow::nodes::crop::run)
}

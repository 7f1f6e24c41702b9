//! trackflow's `viewer` node (see `trackflow::nodes::viewer`).

fn main() {
    trackflow::nodes::node_main("viewer", trackflow::nodes::viewer::run)
}

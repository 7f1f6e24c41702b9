//! trackflow's `backbone` node (see `trackflow::nodes::backbone`).

fn main() {
    trackflow::nodes::node_main("backbone", trackflow::nodes::backbone::run)
}

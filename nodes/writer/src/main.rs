//! trackflow's `writer` node (see `trackflow::nodes::writer`).

fn main() {
    trackflow::nodes::node_main("writer", trackflow::nodes::writer::run)
}

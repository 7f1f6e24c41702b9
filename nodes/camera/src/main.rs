//! trackflow's `camera` node (see `trackflow::nodes::camera`).

fn main() {
    trackflow::nodes::node_main("camera", trackflow::nodes::camera::run)
}

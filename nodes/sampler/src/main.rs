//! trackflow's `sampler` node (see `trackflow::nodes::sampler`).

fn main() {
    trackflow::nodes::node_main("sampler", trackflow::nodes::sampler::run)
}

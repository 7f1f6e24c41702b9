//! The `trackflow` command; everything it does lives in [`trackflow::cli`].

fn main() -> std::process::ExitCode {
    trackflow::base::malloc::tune_for_tensors();
    trackflow::base::log::init();
    trackflow::cli::main()
}

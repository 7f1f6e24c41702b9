//! The `trackflow` command; everything it does lives in [`trackflow::cli`].

fn main() -> std::process::ExitCode {
    trackflow::cli::main()
}

fn main() -> std::process::ExitCode {
    git_train::cli::main()
}

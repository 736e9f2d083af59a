fn main() -> std::process::ExitCode {
    imggen::cli::main()
}

//! `gate`: the command line (see `gate --help`; exit codes 0 pass, 1 fail, 2 error).

fn main() -> std::process::ExitCode {
    codecommit_gate::cli::main()
}

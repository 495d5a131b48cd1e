// Temporary wiring for the verify worktree; the lead replaces this with the real CLI.
use clap::{Parser, Subcommand};
use docflow::signing::verify::cli::{run_verify, VerifyArgs};

#[derive(Parser)]
#[command(name = "docflow")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Top>,
}

#[derive(Subcommand)]
enum Top {
    /// PDF commands.
    Pdf {
        #[command(subcommand)]
        cmd: Pdf,
    },
}

#[derive(Subcommand)]
enum Pdf {
    /// Verify every signature of a PDF.
    Verify(VerifyArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().cmd {
        Some(Top::Pdf {
            cmd: Pdf::Verify(args),
        }) => run_verify(args),
        None => std::process::ExitCode::SUCCESS,
    }
}

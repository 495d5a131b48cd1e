// Temporary wiring of `docflow pdf sign` for the signing branch; the lead's main.rs replaces it.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "docflow")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// PDF commands.
    #[command(subcommand)]
    Pdf(Pdf),
}

#[derive(Subcommand)]
enum Pdf {
    /// Sign a PDF (PAdES).
    Sign(docflow::signing::cli::SignArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Pdf(Pdf::Sign(a)) => docflow::signing::cli::run_sign(a),
    }
}

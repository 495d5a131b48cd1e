//! The `docflow` command: the server and its administration commands.

use clap::{Args, Parser, Subcommand};
use docflow::accounts::model::{NewUser, Role};
use docflow::accounts::service;
use docflow::audit::AuditContext;
use docflow::config::Config;
use docflow::db;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "docflow",
    version,
    about = "Back end of a paperless public office"
)]
struct Cli {
    /// TOML configuration file (settings: docs/CONFIGURATION.md).
    #[arg(long, global = true, env = "DOCFLOW_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once at start; boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// PDF signatures.
    #[command(subcommand)]
    Pdf(PdfCommand),
    /// Development tools (test data).
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Subcommand)]
enum DevCommand {
    /// Seed a realistic office: units, users (password `docflow-seed`), documents, routes in
    /// every state, tasks, registrations. Deterministic per seed; again with the same seed and
    /// sizes: a no-op. Refuses a database with data it did not seed unless --force.
    Seed(SeedArgs),
}

#[derive(Args)]
struct SeedArgs {
    /// Number of documents (half incoming, half outgoing).
    #[arg(long, default_value_t = 10_000)]
    documents: u64,
    /// Number of users (at least 8).
    #[arg(long, default_value_t = 100)]
    users: u64,
    /// Seed of the random stream: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed even though the database holds data the seeder did not write.
    #[arg(long)]
    force: bool,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum PdfCommand {
    /// Sign a PDF (PAdES, incremental): `docflow pdf sign IN.pdf OUT.pdf --key K --cert C`.
    Sign(docflow::signing::cli::SignArgs),
    /// Extend a signed PDF to PAdES B-LT or B-LTA: `docflow pdf extend FILE --level b-lta`.
    Extend(docflow::signing::cli::ExtendArgs),
    /// Verify every signature of a PDF; exit 0 only when all are intact, valid and trusted.
    Verify(docflow::signing::verify::cli::VerifyArgs),
    /// Run the upload check on a PDF (what the server does on arrival); JSON facts or a refusal.
    Check(docflow::documents::inspect::CheckArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user account.
    Add(UserAdd),
}

#[derive(Args)]
struct UserAdd {
    /// Login name: lower-case letters, digits, '.', '_' or '-'.
    #[arg(long)]
    username: String,
    /// Full name as printed on documents, e.g. "Nguyễn Văn Đức".
    #[arg(long)]
    full_name: String,
    /// Email address for notifications.
    #[arg(long)]
    email: String,
    /// Position title, e.g. "Phó Giám đốc".
    #[arg(long, default_value = "")]
    position: String,
    /// Code of the user's unit.
    #[arg(long)]
    unit: Option<String>,
    /// Role (repeat for several): admin, clerk, official, archivist.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<Role>,
    /// Name of the environment variable holding the password (never pass it as an argument).
    #[arg(long, default_value = "DOCFLOW_NEW_PASSWORD")]
    password_env: String,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("'{s}' is not one of: admin, clerk, official, archivist"))
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; name the first row altered, removed or reordered.
    Verify,
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg),
        Command::Migrate => migrate(&cfg),
        Command::User(UserCommand::Add(args)) => user_add(&cfg, args),
        Command::Audit(AuditCommand::Verify) => audit_verify(&cfg),
        Command::Pdf(PdfCommand::Sign(args)) => Ok(docflow::signing::cli::run_sign(args)),
        Command::Pdf(PdfCommand::Extend(args)) => {
            Ok(docflow::signing::cli::run_extend(args, &cfg.tsa_url))
        }
        Command::Pdf(PdfCommand::Verify(args)) => {
            Ok(docflow::signing::verify::cli::run_verify(args))
        }
        Command::Pdf(PdfCommand::Check(args)) => Ok(docflow::documents::inspect::run_check(args)),
        Command::Dev(DevCommand::Seed(args)) => dev_seed(&cfg, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cfg: Config) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(docflow::startup::serve(cfg))?;
    Ok(ExitCode::SUCCESS)
}

fn migrate(cfg: &Config) -> anyhow::Result<ExitCode> {
    let mut conn = db::connect(cfg)?;
    let applied = db::migrate(&mut conn)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(ExitCode::SUCCESS)
}

fn user_add(cfg: &Config, args: UserAdd) -> anyhow::Result<ExitCode> {
    let password = std::env::var(&args.password_env).map_err(|_| {
        anyhow::anyhow!(
            "set the password in the environment variable {} (or name another with --password-env)",
            args.password_env
        )
    })?;
    let mut conn = db::connect(cfg)?;
    db::migrate(&mut conn)?;
    let unit_id = match &args.unit {
        Some(code) => Some(
            service::unit_id_by_code(&mut conn, code)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .ok_or_else(|| anyhow::anyhow!("no unit with code '{code}'"))?,
        ),
        None => None,
    };
    let user = service::create_user(
        &mut conn,
        &AuditContext::system(),
        NewUser {
            username: args.username,
            password,
            full_name: args.full_name,
            position_title: args.position,
            email: args.email,
            unit_id,
            roles: args.roles,
        },
    )
    .map_err(|e| anyhow::anyhow!("{e} [{}]", e.code()))?;
    println!("created user {} ({})", user.username, user.id.0);
    Ok(ExitCode::SUCCESS)
}

fn dev_seed(cfg: &Config, args: SeedArgs) -> anyhow::Result<ExitCode> {
    use docflow::devseed::{self, SeedError, SeedOptions, SeedOutcome};
    let started = std::time::Instant::now();
    let mut conn = db::connect(cfg)?;
    db::migrate(&mut conn)?;
    // The file first, then the rows that point to it (as every upload does).
    let blobs = docflow::storage::BlobStore::from_config(cfg)?;
    let (sha256, size) = actix_web::rt::System::new()
        .block_on(blobs.put_bytes(devseed::sample_pdf()))
        .map_err(|e| anyhow::anyhow!("storing the sample PDF: {e}"))?;
    let opts = SeedOptions {
        documents: args.documents,
        users: args.users,
        seed: args.seed,
        force: args.force,
    };
    match devseed::run(&mut conn, &opts, (&sha256, size)) {
        Ok(SeedOutcome::AlreadySeeded) => {
            println!(
                "already seeded with seed {} ({} documents, {} users): nothing to do",
                args.seed, args.documents, args.users
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(SeedOutcome::Seeded(s)) => {
            println!(
                "seeded {} units, {} users, {} documents, {} routes, {} tasks, {} registrations in {:.1} s",
                s.units,
                s.users,
                s.documents,
                s.routes,
                s.tasks,
                s.registrations,
                started.elapsed().as_secs_f64()
            );
            println!("password={}", devseed::PASSWORD);
            println!("director={}", s.director);
            println!("clerk={}", s.clerk);
            println!("official={}", s.official);
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (SeedError::NotEmpty { .. } | SeedError::TooFewUsers)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

fn audit_verify(cfg: &Config) -> anyhow::Result<ExitCode> {
    let mut conn = db::connect(cfg)?;
    let report = docflow::audit::verify_chain(&mut conn)?;
    if report.intact {
        println!("audit chain intact: {} events", report.events);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "audit chain BROKEN at event #{}: {}",
            report.first_bad_seq.unwrap_or(0),
            report.problem.unwrap_or_default()
        );
        Ok(ExitCode::from(1))
    }
}

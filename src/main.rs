use clap::{Parser, Subcommand};
use dichvucong::{cli, config::Config};
use std::path::PathBuf;
use std::process::ExitCode;

/// dichvucong — Cổng dịch vụ công trực tuyến (online public-services portal).
#[derive(Parser)]
#[command(name = "dichvucong", version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the portal (migrates the database and loads the sample catalogue on first start).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Import a catalogue directory (agencies.toml + procedures/*.toml). Idempotent.
    ImportCatalog { path: PathBuf },
    /// Copy all data to an empty database, e.g. SQLite → PostgreSQL, and verify it.
    MigrateData {
        /// Source database, e.g. `sqlite:///var/lib/dichvucong/dichvucong.db`.
        #[arg(long)]
        from: String,
        /// Target database (empty), e.g. `postgres://dvc@db.example.vn/dichvucong`.
        #[arg(long)]
        to: String,
        /// Also copy attachments from this storage (`s3://…`, `file:///…` or a directory)…
        #[arg(long, requires = "files_to")]
        files_from: Option<String>,
        /// …to this one.
        #[arg(long, requires = "files_from")]
        files_to: Option<String>,
    },
    /// Working-day calendar: holidays, due dates, yearly decisions.
    Calendar {
        #[command(subcommand)]
        cmd: cli::calendar::CalendarCmd,
    },
    /// Officials' accounts.
    Staff {
        #[command(subcommand)]
        cmd: cli::StaffCmd,
    },
    /// Partner systems of the API (OAuth2 client credentials).
    Partner {
        #[command(subcommand)]
        cmd: cli::PartnerCmd,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        cmd: cli::AuditCmd,
    },
    /// Statistics (QĐ 766 figures).
    Statistics {
        #[command(subcommand)]
        cmd: cli::StatisticsCmd,
    },
}

fn main() -> ExitCode {
    let args = Cli::parse();
    dichvucong::web::telemetry::init(args.config.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Không khởi động được tiến trình: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match args.cmd {
            Cmd::Serve => dichvucong::web::serve(args.config).await,
            Cmd::Migrate => cli::migrate(&args.config).await,
            Cmd::ImportCatalog { path } => cli::import_catalog(&args.config, &path).await,
            Cmd::MigrateData {
                from,
                to,
                files_from,
                files_to,
            } => {
                cli::migrate_data::run(
                    &from,
                    &to,
                    files_from.as_deref(),
                    files_to.as_deref(),
                    &args.config,
                )
                .await
            }
            Cmd::Calendar { cmd } => cli::calendar_cmd(&args.config, cmd).await,
            Cmd::Staff { cmd } => cli::staff_cmd(&args.config, cmd).await,
            Cmd::Audit { cmd } => cli::audit_cmd(&args.config, cmd).await,
            Cmd::Statistics { cmd } => cli::statistics_cmd(&args.config, cmd).await,
            Cmd::Partner { cmd } => cli::partner_cmd(&args.config, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Lỗi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

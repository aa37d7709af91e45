//! Command-line subcommands other than `serve`.

pub mod calendar;
pub mod migrate_data;

use crate::config::Config;
use crate::store::Db;
use std::path::Path;

pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = open_db(config).await?;
    println!("Đã cập nhật cấu trúc cơ sở dữ liệu ({}).", db.backend());
    db.close().await;
    Ok(())
}

pub async fn import_catalog(config: &Config, path: &Path) -> anyhow::Result<()> {
    let files = crate::catalog::import::read_dir(path)?;
    let db = open_db(config).await?;
    let r = crate::catalog::import::import(&db, &files).await?;
    println!(
        "Nhập danh mục: thêm mới {}, cập nhật {}, không đổi {}.",
        r.added, r.updated, r.unchanged
    );
    db.close().await;
    Ok(())
}

pub async fn calendar_cmd(config: &Config, cmd: calendar::CalendarCmd) -> anyhow::Result<()> {
    // Agencies come from the catalogue in the database when there is one, else the sample.
    let agencies = match Db::connect(&config.database_url()).await {
        Ok(db) => {
            let a = crate::store::catalog::load(&db)
                .await
                .map(|(a, _)| a)
                .unwrap_or_default();
            db.close().await;
            a
        }
        Err(_) => Vec::new(),
    };
    let agencies = if agencies.is_empty() {
        crate::catalog::import::sample()?.agencies.agencies
    } else {
        agencies
    };
    let out = calendar::run(cmd, &config.data_dir, &agencies)?;
    print!("{out}");
    if !out.ends_with('\n') && !out.is_empty() {
        println!();
    }
    Ok(())
}

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
            let a = crate::store::catalog::load_agencies(&db)
                .await
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

#[derive(clap::Subcommand, Debug)]
pub enum StaffCmd {
    /// Create an account; the password is read from standard input (first line).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// reception | specialist | leader | admin
        #[arg(long)]
        role: String,
        /// Agency code, e.g. 000.00.02.H31
        #[arg(long)]
        agency: String,
        /// Job title shown to citizens, e.g. "Công chức Tư pháp - Hộ tịch"
        #[arg(long, default_value = "")]
        title: String,
    },
}

pub async fn staff_cmd(config: &Config, cmd: StaffCmd) -> anyhow::Result<()> {
    match cmd {
        StaffCmd::Create {
            email,
            name,
            role,
            agency,
            title,
        } => {
            let email = dvc_domain::form::parse_email(&email).ok_or_else(|| {
                anyhow::anyhow!("Địa chỉ thư điện tử không đúng dạng, ví dụ ten@coquan.gov.vn.")
            })?;
            let role = dvc_domain::staff::Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("Vai trò phải là một trong: reception, specialist, leader, admin.")
            })?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            // Checked before the database is opened, so a weak password changes nothing.
            dvc_domain::staff::check_password(&password).map_err(|e| anyhow::anyhow!(e))?;
            let db = open_db(config).await?;
            let agencies = crate::store::catalog::load_agencies(&db).await?;
            let agencies = if agencies.is_empty() {
                crate::catalog::import::sample()?.agencies.agencies
            } else {
                agencies
            };
            if !agencies.iter().any(|a| a.code.as_str() == agency) {
                anyhow::bail!(
                    "Không có cơ quan mã {agency} trong danh mục. Xem catalog/agencies.toml."
                );
            }
            if !crate::store::catalog::has_agencies(&db).await? && config.sample_catalog {
                crate::catalog::import::import(&db, &crate::catalog::import::sample()?).await?;
            }
            let key = config.load_audit_key(true)?;
            let account = crate::accounts::NewAccount {
                email: &email,
                name: &name,
                title: &title,
                role,
                agency_code: &agency,
                password,
            };
            let id = crate::accounts::create(&db, &key, account, "cli", "-", crate::now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "Đã tạo tài khoản {email} (số {id}, vai trò {}).",
                role.label()
            );
            db.close().await;
        }
    }
    Ok(())
}

#[derive(clap::Subcommand, Debug)]
pub enum StatisticsCmd {
    /// Forget the statistics sums and count every dossier again (after a bulk import, or to
    /// pick up facts changed outside the workflow).
    Rebuild,
}

pub async fn statistics_cmd(config: &Config, cmd: StatisticsCmd) -> anyhow::Result<()> {
    let db = open_db(config).await?;
    match cmd {
        StatisticsCmd::Rebuild => {
            let n = crate::store::statistics::rebuild(&db).await?;
            println!("Đã tính lại thống kê của {n} hồ sơ.");
        }
    }
    db.close().await;
    Ok(())
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the audit chain and every dossier's timeline chain; exit 0 when intact,
    /// non-zero naming the first bad entry.
    Verify {
        /// A head printed earlier by `audit head` (`SEQ:HASH`): also fail when the chain was
        /// cut or rewritten after it.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Print the last entry as `SEQ HASH`, to keep outside this machine.
    Head,
}

pub async fn audit_cmd(config: &Config, cmd: AuditCmd) -> anyhow::Result<()> {
    let db = open_db(config).await?;
    let outcome = match cmd {
        AuditCmd::Head => {
            // Entries still waiting to be chained are chained first, so the head is the latest.
            match config.load_audit_key(false) {
                Ok(key) => {
                    crate::store::audit::seal(&db, &key).await?;
                }
                Err(e) => eprintln!(
                    "Chưa nối chuỗi các mục đang chờ (không đọc được khóa nhật ký: {e}); mốc in ra là mốc đã nối gần nhất."
                ),
            }
            let (seq, hash) = crate::store::audit::head(&db).await?;
            println!("{seq} {hash}");
            Ok(())
        }
        AuditCmd::Verify { expect_head } => {
            let expect = match expect_head.as_deref() {
                None => None,
                Some(h) => {
                    let (seq, hash) = h
                        .split_once([':', ' '])
                        .and_then(|(s, h)| Some((s.trim().parse::<i64>().ok()?, h.trim())))
                        .filter(|(_, h)| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--expect-head có dạng SỐ:MÃBĂM như lệnh `audit head` in ra, ví dụ 42:3fa9…(64 ký tự hex)."
                            )
                        })?;
                    Some((seq, hash.to_ascii_lowercase()))
                }
            };
            let key = config.load_audit_key(false)?;
            crate::store::audit::seal(&db, &key).await?;
            let result = crate::store::audit::verify(
                &db,
                &key,
                expect.as_ref().map(|(s, h)| (*s, h.as_str())),
            )
            .await?;
            match result {
                Ok(v) => {
                    println!(
                        "Nhật ký kiểm tra toàn vẹn: {} mục, {} sự kiện của {} hồ sơ; chuỗi băm khớp.",
                        v.entries, v.events, v.dossiers
                    );
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("Nhật ký bị can thiệp: {e}")),
            }
        }
    };
    db.close().await;
    outcome
}

#[derive(clap::Subcommand, Debug)]
pub enum PartnerCmd {
    /// Register a partner system; prints its client_id and client_secret once (only a hash of
    /// the secret is kept).
    Create {
        /// The partner's name, e.g. "Bưu điện tỉnh Hải Phòng".
        #[arg(long)]
        name: String,
        /// The agency whose dossiers (with its sub-units') the partner may file and read.
        #[arg(long)]
        agency: String,
        /// Comma-separated: dossiers:write, dossiers:read, events:read, webhooks.
        #[arg(
            long,
            default_value = "dossiers:write,dossiers:read,events:read,webhooks"
        )]
        scope: String,
    },
    /// Revoke a partner: its tokens stop working at once and its webhooks stop.
    Revoke {
        /// The partner's number (printed by `partner create`).
        id: i64,
    },
}

pub async fn partner_cmd(config: &Config, cmd: PartnerCmd) -> anyhow::Result<()> {
    use dvc_domain::audit::Entry;
    let audit = |action: &str, subject: String| Entry {
        seq: 0,
        at: crate::now_ms(),
        actor: "cli".into(),
        ip: "-".into(),
        action: action.into(),
        subject,
        from_state: None,
        to_state: None,
        reason: None,
        event_id: None,
        event_hash: None,
    };
    match cmd {
        PartnerCmd::Create {
            name,
            agency,
            scope,
        } => {
            let name = dvc_domain::text::clean_input(&name);
            if name.chars().count() < 2 {
                anyhow::bail!(
                    "Nhập tên hệ thống đối tác (--name), ví dụ \"Bưu điện tỉnh Hải Phòng\"."
                );
            }
            let scopes = dvc_domain::integration::parse_scopes(&scope)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if scopes.is_empty() {
                anyhow::bail!(
                    "Cần ít nhất một phạm vi (--scope), ví dụ dossiers:write,dossiers:read."
                );
            }
            let db = open_db(config).await?;
            if !crate::store::catalog::has_agencies(&db).await? && config.sample_catalog {
                crate::catalog::import::import(&db, &crate::catalog::import::sample()?).await?;
            }
            let agencies = crate::store::catalog::load_agencies(&db).await?;
            if !agencies.iter().any(|a| a.code.as_str() == agency) {
                anyhow::bail!(
                    "Không có cơ quan mã {agency} trong danh mục. Xem catalog/agencies.toml."
                );
            }
            let key = config.load_audit_key(true)?;
            let client_id = format!("dvc_{}", crate::web::security::random_token(12));
            let secret = crate::web::security::random_token(32);
            let hash = crate::password::hash(secret.clone()).await?;
            let scopes = dvc_domain::integration::format_scopes(&scopes);
            let id = crate::store::partners::create_partner(
                &db,
                &client_id,
                &name,
                &agency,
                &scopes,
                &hash,
                crate::now_ms(),
            )
            .await?;
            crate::store::audit::append(
                &db,
                &key,
                audit("partner_create", format!("partner {id} {client_id}")),
            )
            .await?;
            println!(
                "Đã tạo hệ thống đối tác số {id} ({name}, cơ quan {agency}, phạm vi {scopes})."
            );
            println!("client_id={client_id}");
            println!("client_secret={secret}");
            println!(
                "Khóa bí mật chỉ hiển thị một lần: hãy chuyển cho đối tác qua kênh an toàn. Mất khóa thì thu hồi (partner revoke {id}) và tạo lại."
            );
            db.close().await;
        }
        PartnerCmd::Revoke { id } => {
            let db = open_db(config).await?;
            let key = config.load_audit_key(true)?;
            let done = crate::store::partners::revoke_partner(&db, id, crate::now_ms()).await?;
            if !done {
                db.close().await;
                anyhow::bail!("Không có hệ thống đối tác số {id} đang hoạt động.");
            }
            crate::store::audit::append(
                &db,
                &key,
                audit("partner_revoke", format!("partner {id}")),
            )
            .await?;
            println!(
                "Đã thu hồi hệ thống đối tác số {id}: mọi mã truy cập của đối tác hết hiệu lực ngay."
            );
            db.close().await;
        }
    }
    Ok(())
}

//! Reminders before a signed-in citizen's draft ("Lưu nháp") is deleted: once a draft has gone
//! unchanged for `DVC_DRAFT_RETENTION_DAYS` minus `DVC_DRAFT_REMINDER_DAYS`, one e-mail (through
//! the outbox) tells the citizen when it will be deleted and how to resume it. Changing the draft
//! moves the deletion and allows a new reminder. Housekeeping runs it every hour.

use crate::store::citizens;
use crate::web::AppState;

const DAY_MS: i64 = 86_400_000;

/// Queues the reminders due at `now`; returns how many were queued.
pub async fn remind(state: &AppState, now: i64) -> usize {
    let retention = i64::from(state.config.draft_retention_days) * DAY_MS;
    let notice = i64::from(state.config.draft_reminder_days) * DAY_MS;
    let cutoff = now - (retention - notice).max(0);
    let due = match citizens::due_reminders(&state.db, cutoff).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "draft reminders not read");
            return 0;
        }
    };
    let base = state.config.base_url();
    let catalog = state.catalog();
    let mut queued = 0;
    for r in due {
        let name = catalog
            .procedure(&r.procedure_code)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| r.procedure_code.clone());
        let deleted_at = crate::web::templates::format_datetime(r.updated_at + retention);
        let subject = format!("Nhắc việc: bản nháp hồ sơ “{name}” sắp bị xóa");
        let body = format!(
            "Kính gửi Ông/Bà {},\n\n\
             Bản nháp hồ sơ thủ tục “{name}” Ông/Bà lưu trên Cổng Dịch vụ công chưa được gửi và sẽ tự động bị xóa vào {deleted_at}, \
             cùng các tệp đã tải lên.\n\n\
             Để tiếp tục khai và gửi hồ sơ, Ông/Bà đăng nhập bằng tài khoản định danh điện tử rồi mở:\n{base}/thu-tuc/{}/nop-ho-so\n\n\
             Danh sách hồ sơ và bản nháp của Ông/Bà: {base}/ho-so-cua-toi\n\n\
             Nếu không còn cần bản nháp này, Ông/Bà không phải làm gì.\n\n\
             Cổng Dịch vụ công (thư tự động, vui lòng không trả lời).\n",
            r.full_name, r.procedure_code
        );
        match citizens::queue_reminder(&state.db, &r, &subject, &body, now).await {
            Ok(true) => queued += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "draft reminder not queued"),
        }
    }
    if queued > 0 {
        state.mail.wake();
    }
    queued
}

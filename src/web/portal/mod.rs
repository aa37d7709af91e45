//! Citizen pages, one module per step of the journey.

pub mod catalog;
pub mod declaration;
pub mod home;
pub mod lookup;
pub mod mine;
pub mod payment;
pub mod procedure;
pub mod rating;
pub mod signin;
pub mod submit;
pub mod supplement;
pub mod withdraw;

use super::AppState;
use crate::error::{AppError, AppResult};
use dvc_domain::catalog::Procedure;
use std::sync::Arc;

/// The procedure with this code, or a 404 page.
pub fn procedure_or_404(
    state: &AppState,
    code: &str,
) -> AppResult<(Arc<crate::catalog::Catalog>, Arc<Procedure>)> {
    let catalog = state.catalog();
    if catalog.summary(code).is_some_and(|s| s.retired) {
        return Err(AppError::NotFound(format!(
            "Thủ tục có mã “{}” đã ngừng áp dụng. Tìm thủ tục thay thế trong danh sách thủ tục hành chính.",
            code.chars().take(40).collect::<String>()
        )));
    }
    let p = catalog.procedure(code).ok_or_else(|| {
        AppError::NotFound(format!(
            "Không tìm thấy thủ tục có mã “{}”. Tìm lại trong danh sách thủ tục hành chính.",
            code.chars().take(40).collect::<String>()
        ))
    })?;
    Ok((catalog, p))
}

/// The procedure, which must be offered online (level ≥ 3).
pub fn online_procedure_or_404(
    state: &AppState,
    code: &str,
) -> AppResult<(Arc<crate::catalog::Catalog>, Arc<Procedure>)> {
    let (c, p) = procedure_or_404(state, code)?;
    if !p.level.online_submission() || p.form.is_none() {
        return Err(AppError::NotFound(format!(
            "Thủ tục “{}” chưa cho phép nộp hồ sơ trực tuyến. Xem hướng dẫn nộp trực tiếp hoặc qua bưu chính trên trang thủ tục.",
            p.name
        )));
    }
    Ok((c, p))
}

/// The procedure as it was when a dossier was filed: the version its form was checked against
/// (the live one from the catalogue when they are the same, otherwise the stored version).
pub async fn as_filed(
    state: &AppState,
    code: &str,
    form_version: i64,
) -> AppResult<Option<Arc<Procedure>>> {
    let catalog = state.catalog();
    if catalog
        .summary(code)
        .is_some_and(|s| s.version == form_version)
    {
        return Ok(catalog.procedure(code));
    }
    match crate::store::procedures::get(&state.db, code, form_version).await? {
        Some(p) => Ok(Some(Arc::new(p))),
        None => Ok(catalog.procedure(code)),
    }
}

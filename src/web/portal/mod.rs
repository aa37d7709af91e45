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

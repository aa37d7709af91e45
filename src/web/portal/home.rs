//! `/`: search, the button to the online services, and the dossier lookup box.

use crate::error::AppResult;
use crate::web::AppState;
use crate::web::templates::render;
use axum::extract::State;
use axum::response::Html;
use minijinja::context;

pub async fn page(State(state): State<AppState>) -> AppResult<Html<String>> {
    let catalog = state.catalog();
    let online = catalog.online_count();
    render(
        "home.html",
        context! { total => catalog.summaries().len(), online, fields => catalog.fields().into_iter().map(String::from).collect::<Vec<_>>() },
    )
}

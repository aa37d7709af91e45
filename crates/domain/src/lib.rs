//! Pure domain core of dichvucong.
//!
//! Everything here is deterministic and free of I/O: no database, no HTTP, no clock reads, no async.
//! Callers pass the current time in. The web, storage and job layers of the `dichvucong` crate are
//! built around these types.
//!
//! - [`text`]: Vietnamese text folding for diacritic-insensitive search.
//! - [`agency`]: agency electronic identifiers (QĐ 20/2020/QĐ-TTg) and the agency tree.
//! - [`catalog`]: administrative procedures (thủ tục hành chính) with their level-1 information.
//! - [`form`]: online declaration forms as data, and their server-side validation.
//! - [`dossier`]: dossier codes (Điều 19 TT 01/2018/TT-VPCP) and the dossier state machine.
//! - [`workflow`]: the dossier lifecycle: commands, the pure decision, events.
//! - [`outcome`]: how the result is delivered (desk, online, post) and the satisfaction rating.
//! - [`calendar`]: the Vietnamese lunar calendar, public holidays and working-day deadlines.
//! - [`upload`]: checking uploaded files by content (type, structure, scripts, pixel floods).

pub mod agency;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod dossier;
pub mod editor;
pub mod fees;
pub mod form;
pub mod integration;
pub mod outcome;
pub mod payment;
pub mod progress;
pub mod staff;
pub mod statistics;
pub mod text;
pub mod upload;
pub mod workflow;

//! The back office's authorisation matrix, in full: every staff route and action × every role ×
//! the dossier's place (the official's own agency, a sub-unit of it, another agency) × whether
//! the official is the dossier's assignee. [`RULES`] is the only source: the test checks every
//! combination against it, and `docs/authorization.md` is printed from it
//! (`DVC_WRITE_DOCS=1 cargo test --test api authorization_doc` rewrites the file; the test
//! fails while the file differs).

use crate::back_office::{OTHER_AGENCY, Official};
use crate::helpers::*;
use dvc_domain::staff::Role;
use std::collections::HashMap;

/// Where the dossier is, seen from the official.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The official's own agency.
    Own,
    /// A sub-unit of the official's agency (the official works at its parent).
    SubUnit,
    /// An agency that is neither.
    Other,
}

/// Who among the officials of a role and scope a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Whoever the dossier is assigned to.
    Anyone,
    /// Only the dossier's assignee.
    Assignee,
}

use Role::{Admin, Leader, Reception, Specialist};
use Scope::{Other, Own, SubUnit};
use Who::Anyone;

/// Everything an official can ask of the back office about a dossier (and the staff page).
pub const WHAT: [&str; 23] = [
    "GET /can-bo (the dossier is listed)",
    "GET /can-bo/so-theo-doi (the dossier is listed)",
    "GET /can-bo/ho-so/{code}",
    "GET /can-bo/ho-so/{code}/tep/{id}",
    "GET /can-bo/ho-so/{code}/giay-to/mau-01",
    "GET /can-bo/quan-tri/can-bo",
    "POST /can-bo/quan-tri/can-bo (an account in the dossier's agency)",
    "POST /can-bo/quan-tri/can-bo/{id}/trang-thai (an official of the dossier's agency)",
    "GET /can-bo/quan-tri/thu-tuc",
    "POST /can-bo/quan-tri/thu-tuc/{procedure}/sua (a draft of the dossier's procedure)",
    "POST /can-bo/quan-tri/thu-tuc/{procedure}/xuat-ban",
    "POST tiep-nhan",
    "POST yeu-cau-bo-sung",
    "POST tu-choi",
    "POST chuyen-xu-ly",
    "POST trinh-phe-duyet",
    "POST phe-duyet",
    "POST tra-lai",
    "POST tra-ket-qua",
    "POST xin-loi-gia-han",
    "POST gia-han-theo-quy-dinh",
    "POST dung-xu-ly",
    "GET /can-bo/ho-so/{code}/ket-qua",
];

const ALL: &[Scope] = &[Own, SubUnit, Other];
const MINE: &[Scope] = &[Own];
const MINE_AND_BELOW: &[Scope] = &[Own, SubUnit];

/// One rule per row: `what` is allowed to `role` on dossiers in `scopes`, for `who`. Anything no
/// row allows is refused. POST actions are `/can-bo/ho-so/{code}/thao-tac/<action>`.
pub const RULES: &[(&str, Role, &[Scope], Who)] = &[
    // Seeing dossiers: one's own agency; leaders also its sub-units. Administrators see the
    // queues of their agency tree but open no dossier, attachment, document or result.
    (
        "GET /can-bo (the dossier is listed)",
        Reception,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo (the dossier is listed)",
        Specialist,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo (the dossier is listed)",
        Leader,
        MINE_AND_BELOW,
        Anyone,
    ),
    (
        "GET /can-bo (the dossier is listed)",
        Admin,
        MINE_AND_BELOW,
        Anyone,
    ),
    ("GET /can-bo/ho-so/{code}", Reception, MINE, Anyone),
    ("GET /can-bo/ho-so/{code}", Specialist, MINE, Anyone),
    ("GET /can-bo/ho-so/{code}", Leader, MINE_AND_BELOW, Anyone),
    ("GET /can-bo/ho-so/{code}/tep/{id}", Reception, MINE, Anyone),
    (
        "GET /can-bo/ho-so/{code}/tep/{id}",
        Specialist,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo/ho-so/{code}/tep/{id}",
        Leader,
        MINE_AND_BELOW,
        Anyone,
    ),
    (
        "GET /can-bo/ho-so/{code}/giay-to/mau-01",
        Reception,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo/ho-so/{code}/giay-to/mau-01",
        Specialist,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo/ho-so/{code}/giay-to/mau-01",
        Leader,
        MINE_AND_BELOW,
        Anyone,
    ),
    ("GET /can-bo/ho-so/{code}/ket-qua", Reception, MINE, Anyone),
    ("GET /can-bo/ho-so/{code}/ket-qua", Specialist, MINE, Anyone),
    (
        "GET /can-bo/ho-so/{code}/ket-qua",
        Leader,
        MINE_AND_BELOW,
        Anyone,
    ),
    // The register (Mẫu 07): the dossiers the official may open, so a leader's sub-units too.
    (
        "GET /can-bo/so-theo-doi (the dossier is listed)",
        Reception,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo/so-theo-doi (the dossier is listed)",
        Specialist,
        MINE,
        Anyone,
    ),
    (
        "GET /can-bo/so-theo-doi (the dossier is listed)",
        Leader,
        MINE_AND_BELOW,
        Anyone,
    ),
    // Managing staff: administrators only (of any agency), and only accounts of their agency
    // and its sub-units.
    ("GET /can-bo/quan-tri/can-bo", Admin, ALL, Anyone),
    (
        "POST /can-bo/quan-tri/can-bo (an account in the dossier's agency)",
        Admin,
        MINE_AND_BELOW,
        Anyone,
    ),
    (
        "POST /can-bo/quan-tri/can-bo/{id}/trang-thai (an official of the dossier's agency)",
        Admin,
        MINE_AND_BELOW,
        Anyone,
    ),
    // The procedure editor: administrators only, of any agency (the catalogue is the
    // installation's).
    ("GET /can-bo/quan-tri/thu-tuc", Admin, ALL, Anyone),
    (
        "POST /can-bo/quan-tri/thu-tuc/{procedure}/sua (a draft of the dossier's procedure)",
        Admin,
        ALL,
        Anyone,
    ),
    (
        "POST /can-bo/quan-tri/thu-tuc/{procedure}/xuat-ban",
        Admin,
        ALL,
        Anyone,
    ),
    // Acting on dossiers (`Role::may`, then the agency scope). Administrators act on none.
    ("POST tiep-nhan", Reception, MINE, Anyone),
    ("POST yeu-cau-bo-sung", Reception, MINE, Anyone),
    ("POST yeu-cau-bo-sung", Specialist, MINE, Anyone),
    ("POST tu-choi", Reception, MINE, Anyone),
    ("POST chuyen-xu-ly", Reception, MINE, Anyone),
    ("POST chuyen-xu-ly", Specialist, MINE, Anyone),
    ("POST chuyen-xu-ly", Leader, MINE_AND_BELOW, Anyone),
    // Submitting for approval and stopping: the assignee, or a leader.
    ("POST trinh-phe-duyet", Specialist, MINE, Who::Assignee),
    ("POST phe-duyet", Leader, MINE_AND_BELOW, Anyone),
    ("POST tra-lai", Leader, MINE_AND_BELOW, Anyone),
    ("POST tra-ket-qua", Reception, MINE, Anyone),
    ("POST xin-loi-gia-han", Reception, MINE, Anyone),
    ("POST xin-loi-gia-han", Specialist, MINE, Anyone),
    ("POST xin-loi-gia-han", Leader, MINE_AND_BELOW, Anyone),
    // Lawful extra time (a variant the procedure declares): the one-stop desk and specialists.
    ("POST gia-han-theo-quy-dinh", Reception, MINE, Anyone),
    ("POST gia-han-theo-quy-dinh", Specialist, MINE, Anyone),
    ("POST dung-xu-ly", Specialist, MINE, Who::Assignee),
    ("POST dung-xu-ly", Leader, MINE_AND_BELOW, Anyone),
];

/// Whether the table allows `what` to an official of `role` in `scope`.
pub fn allowed(what: &str, role: Role, scope: Scope, assignee: bool) -> bool {
    RULES.iter().any(|(w, r, scopes, who)| {
        *w == what
            && *r == role
            && scopes.contains(&scope)
            && (*who == Anyone || (*who == Who::Assignee && assignee))
    })
}

fn cell(what: &str, role: Role, scope: Scope) -> &'static str {
    match (
        allowed(what, role, scope, false),
        allowed(what, role, scope, true),
    ) {
        (true, _) => "yes",
        (false, true) => "assignee",
        (false, false) => "—",
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Reception => "reception",
        Specialist => "specialist",
        Leader => "leader",
        Admin => "admin",
    }
}

/// `docs/authorization.md`, printed from [`RULES`].
pub fn markdown() -> String {
    let mut s = String::from(
        "# Back-office authorisation\n\n\
         Generated from `RULES` in `tests/api/authorization.rs` by \
         `DVC_WRITE_DOCS=1 cargo test --test api authorization_doc`; do not edit by hand. The \
         test `authorization::every_route_and_action_for_every_role_scope_and_assignee` checks \
         every cell against the running server, on SQLite and PostgreSQL.\n\n\
         Columns: the official's role, and where the dossier is — **own** (the official's \
         agency), **sub** (a sub-unit of it: the official works at its parent, e.g. the city \
         and a ward of `catalog/agencies.toml`), **other** (any other agency). Cells: **yes** \
         (allowed whoever the dossier is assigned to), **assignee** (only the dossier's \
         assignee), **—** (refused: `403`, or for the list, the dossier is not shown). An \
         allowed action answers `303`; whether it is legal *now* is the state machine's \
         business (`409`), tested elsewhere. Only specialists and leaders can be assignees (a \
         dossier is forwarded to one of them; submitted for approval to a leader). Without a login every route answers `303` to the \
         login page. POST actions are `/can-bo/ho-so/{code}/thao-tac/<action>`.\n\n",
    );
    s.push_str("| Route or action |");
    for r in Role::ALL {
        for sc in ["own", "sub", "other"] {
            s.push_str(&format!(" {} {sc} |", role_name(r)));
        }
    }
    s.push_str("\n|---|");
    for _ in 0..12 {
        s.push_str(":-:|");
    }
    s.push('\n');
    for what in WHAT {
        s.push_str(&format!("| `{what}` |"));
        for r in Role::ALL {
            for sc in [Own, SubUnit, Other] {
                s.push_str(&format!(" {} |", cell(what, r, sc)));
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\nA file of another dossier, asked for under a dossier one may see \
         (`/can-bo/ho-so/{code}/tep/{id of another dossier's file}`, or the citizen's \
         `/ho-so/xem/{token}/tep/{id}`), is never served: `404`.\n",
    );
    s
}

#[test]
fn authorization_doc_is_printed_from_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/authorization.md");
    let fresh = markdown();
    if std::env::var("DVC_WRITE_DOCS").is_ok() {
        std::fs::write(&path, &fresh).expect("write docs/authorization.md");
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "docs/authorization.md is not the table of tests/api/authorization.rs; rewrite it with DVC_WRITE_DOCS=1"
    );
}

const CITY: &str = "000.00.00.H31";

fn agency_of(scope: Scope) -> &'static str {
    match scope {
        Own => AGENCY,
        SubUnit => CITY,
        Other => OTHER_AGENCY,
    }
}

/// The dossier states the actions are tried in (each action where it is legal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum State {
    Submitted,
    Processing,
    AwaitingApproval,
    ResultReady,
    Done,
}

fn state_for(what: &str) -> State {
    match what {
        "POST tiep-nhan" | "POST tu-choi" => State::Submitted,
        "POST phe-duyet" | "POST tra-lai" => State::AwaitingApproval,
        "POST tra-ket-qua" => State::ResultReady,
        "GET /can-bo/ho-so/{code}/ket-qua" => State::Done,
        _ => State::Processing,
    }
}

struct Setup {
    reception: Official,
    specialist: Official,
    leader: Official,
    specialist_id: i64,
    leader_id: i64,
}

/// Cases asked again with the official as the dossier's assignee (where a dossier in that state
/// can be assigned to that role and scope).
const ASSIGNEE_CASES: usize = 106;

/// Accounts created by the matrix's administrators get distinct addresses.
static NEXT_ACCOUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Saves the live khai sinh procedure, unchanged, as a draft through the editor.
pub async fn save_procedure_draft(app: &TestApp, o: &Official) -> u16 {
    let p = app.state.catalog().procedure(PROC).expect("procedure");
    let mut fields: Vec<(String, String)> = dvc_domain::editor::to_input(&p).into_iter().collect();
    fields.push(("csrf".into(), o.csrf.clone()));
    o.client
        .post(app.url(&format!("/can-bo/quan-tri/thu-tuc/{PROC}/sua")))
        .form(&fields)
        .send()
        .await
        .expect("save draft")
        .status()
        .as_u16()
}

async fn staff_id(app: &TestApp, email: &str) -> i64 {
    let email = email.to_string();
    let (id,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT id FROM staff WHERE email = $1").bind(email).fetch_one(p).await.expect("staff id")
    });
    id
}

fn result_form(csrf: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(result_pdf())
        .file_name("giay-khai-sinh.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .part("result_file", part)
}

/// Posts `action` with every field any action needs (the forward goes to the setup specialist).
async fn act(app: &TestApp, o: &Official, code: &str, action: &str, forward_to: i64) -> u16 {
    let url = app.url(&format!("/can-bo/ho-so/{code}/thao-tac/{action}"));
    let r = if action == "tra-ket-qua" {
        o.client.post(url).multipart(result_form(&o.csrf))
    } else {
        let to = forward_to.to_string();
        let mut fields = vec![
            ("csrf", o.csrf.as_str()),
            ("reason", "Lý do kiểm thử."),
            ("missing", "giay_chung_sinh"),
            ("new_due", "2099-01-01"),
        ];
        if action == "chuyen-xu-ly" {
            fields.push(("assignee_id", to.as_str()));
        }
        if action == "gia-han-theo-quy-dinh" {
            fields.push(("extra", "0"));
        }
        o.client.post(url).form(&fields)
    };
    r.send().await.expect("act").status().as_u16()
}

async fn setup_act(app: &TestApp, o: &Official, code: &str, action: &str, fields: &[(&str, &str)]) {
    let r = o.act(app, code, action, fields).await;
    assert_eq!(r.status().as_u16(), 303, "setup {action} on {code}");
}

/// A new dossier in `state`, assigned to `assignee` (an official id) when given, otherwise to the
/// setup specialist (from `Processing` on).
async fn dossier(app: &TestApp, s: &Setup, state: State, assignee: Option<(i64, Scope)>) -> String {
    let code = app.submit_birth_registration().await;
    if state == State::Submitted {
        return code;
    }
    setup_act(app, &s.reception, &code, "tiep-nhan", &[]).await;
    // Forwarded by the ward's reception. Forwarding stays inside the dossier's agency tree, so
    // a dossier held by an official elsewhere (moved there before that rule, or by hand) is
    // made so in the database.
    let forwarded_to = match assignee {
        Some((id, Own)) if state == State::Processing => id,
        _ => s.specialist_id,
    };
    let id = forwarded_to.to_string();
    setup_act(
        app,
        &s.reception,
        &code,
        "chuyen-xu-ly",
        &[("assignee_id", &id)],
    )
    .await;
    if state == State::Processing {
        if let Some((id, scope)) = assignee
            && scope != Own
        {
            dichvucong::db_run!(&app.state.db, p => {
                sqlx::query("UPDATE dossiers SET assignee_id = $1 WHERE code = $2")
                    .bind(id).bind(&code).execute(p).await.expect("assign elsewhere");
            });
        }
        return code;
    }
    let to = match assignee {
        Some((id, Own)) => id,
        _ => s.leader_id,
    };
    let id = to.to_string();
    setup_act(
        app,
        &s.specialist,
        &code,
        "trinh-phe-duyet",
        &[("assignee_id", &id)],
    )
    .await;
    if state == State::AwaitingApproval {
        return code;
    }
    setup_act(app, &s.leader, &code, "phe-duyet", &[]).await;
    if state == State::ResultReady {
        return code;
    }
    let url = app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua"));
    let r = s
        .reception
        .client
        .post(url)
        .multipart(result_form(&s.reception.csrf))
        .send()
        .await
        .expect("return");
    assert_eq!(r.status().as_u16(), 303);
    code
}

/// Whether an official of `role` in `scope` can be the dossier's assignee in `state`: a dossier
/// is forwarded only to a specialist or a leader, and submitted for approval only to a leader
/// (here by the ward's specialist, who may pick only ward officials).
fn assignable(state: State, role: Role, scope: Scope) -> bool {
    match state {
        State::Submitted => false,
        State::Processing => matches!(role, Specialist | Leader),
        _ => role == Leader && scope == Own,
    }
}

async fn attachment_id(app: &TestApp, code: &str) -> i64 {
    let row = dichvucong::store::dossiers::find_by_code(&app.state.db, code)
        .await
        .expect("read")
        .expect("dossier");
    dichvucong::store::dossiers::attachments(&app.state.db, row.id)
        .await
        .expect("attachments")[0]
        .id
}

/// The answer to `what` for official `o` on dossier `code`: allowed (`Ok(true)`), refused
/// (`Ok(false)`), or an answer that is neither (`Err`, with the status).
async fn ask(
    app: &TestApp,
    o: &Official,
    what: &str,
    code: &str,
    forward_to: i64,
) -> Result<bool, u16> {
    let get = |path: String| async move {
        match o.get(app, &path).await.0 {
            200 => Ok(true),
            403 => Ok(false),
            s => Err(s),
        }
    };
    match what {
        "GET /can-bo (the dossier is listed)" => {
            let (s, page) = o.get(app, "/can-bo?hang-doi=tat-ca").await;
            if s != 200 {
                return Err(s);
            }
            Ok(page.contains(code))
        }
        "GET /can-bo/ho-so/{code}" => get(format!("/can-bo/ho-so/{code}")).await,
        "GET /can-bo/ho-so/{code}/tep/{id}" => {
            let id = attachment_id(app, code).await;
            get(format!("/can-bo/ho-so/{code}/tep/{id}")).await
        }
        "GET /can-bo/ho-so/{code}/giay-to/mau-01" => {
            get(format!("/can-bo/ho-so/{code}/giay-to/mau-01")).await
        }
        "GET /can-bo/ho-so/{code}/ket-qua" => get(format!("/can-bo/ho-so/{code}/ket-qua")).await,
        "GET /can-bo/quan-tri/can-bo" => get("/can-bo/quan-tri/can-bo".to_string()).await,
        "GET /can-bo/quan-tri/thu-tuc" => get("/can-bo/quan-tri/thu-tuc".to_string()).await,
        "POST /can-bo/quan-tri/thu-tuc/{procedure}/sua (a draft of the dossier's procedure)" => {
            match save_procedure_draft(app, o).await {
                303 => Ok(true),
                403 => Ok(false),
                s => Err(s),
            }
        }
        "POST /can-bo/quan-tri/thu-tuc/{procedure}/xuat-ban" => {
            // An administrator publishes a draft; anyone else is refused before anything is
            // looked at (the draft is written directly, as an administrator would have).
            let p = app.state.catalog().procedure(PROC).expect("procedure");
            dichvucong::store::procedures::save_draft(&app.state.db, &p, "admin@test", 0)
                .await
                .expect("draft");
            let r = o
                .client
                .post(app.url(&format!("/can-bo/quan-tri/thu-tuc/{PROC}/xuat-ban")))
                .form(&[("csrf", o.csrf.as_str()), ("xac_nhan", "1")])
                .send()
                .await
                .expect("publish");
            match r.status().as_u16() {
                303 => Ok(true),
                403 => Ok(false),
                s => Err(s),
            }
        }
        "GET /can-bo/so-theo-doi (the dossier is listed)" => {
            // The day of receipt is the code's date (YYMMDD).
            let ymd = code.rsplit('-').nth(1).unwrap_or("000000");
            let day = format!("20{}-{}-{}", &ymd[0..2], &ymd[2..4], &ymd[4..6]);
            let (s, csv) = o
                .get(app, &format!("/can-bo/so-theo-doi?tu={day}&den={day}"))
                .await;
            match s {
                200 => Ok(csv.contains(code)),
                403 => Ok(false),
                s => Err(s),
            }
        }
        "POST /can-bo/quan-tri/can-bo (an account in the dossier's agency)" => {
            let n = NEXT_ACCOUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let email = format!("moi-{n}@hongbang.gov.vn");
            let r = o
                .client
                .post(app.url("/can-bo/quan-tri/can-bo"))
                .form(&[
                    ("csrf", o.csrf.as_str()),
                    ("email", email.as_str()),
                    ("name", "Cán bộ Mới"),
                    ("title", "Công chức"),
                    ("role", "reception"),
                    ("agency_code", AGENCY),
                    ("password", "mật khẩu đủ dài 123"),
                ])
                .send()
                .await
                .expect("create");
            match r.status().as_u16() {
                303 => Ok(true),
                // Refused by role (403) or by scope (the agency is not offered: the form error).
                403 | 422 => Ok(false),
                s => Err(s),
            }
        }
        "POST /can-bo/quan-tri/can-bo/{id}/trang-thai (an official of the dossier's agency)" => {
            let r = o
                .client
                .post(app.url(&format!("/can-bo/quan-tri/can-bo/{forward_to}/trang-thai")))
                .form(&[("csrf", o.csrf.as_str()), ("active", "1")])
                .send()
                .await
                .expect("toggle");
            match r.status().as_u16() {
                303 => Ok(true),
                403 => Ok(false),
                s => Err(s),
            }
        }
        _ => {
            let action = what.trim_start_matches("POST ");
            match act(app, o, code, action, forward_to).await {
                303 => Ok(true),
                403 => Ok(false),
                s => Err(s),
            }
        }
    }
}

#[tokio::test]
async fn every_route_and_action_for_every_role_scope_and_assignee() {
    let app = TestApp::spawn().await;
    crate::one_stop::with_lawful_extra_time(&app).await;
    let setup = Setup {
        reception: app.official("r0@hongbang.gov.vn", Reception, AGENCY).await,
        specialist: app.official("s0@hongbang.gov.vn", Specialist, AGENCY).await,
        leader: app.official("l0@hongbang.gov.vn", Leader, AGENCY).await,
        specialist_id: staff_id(&app, "s0@hongbang.gov.vn").await,
        leader_id: staff_id(&app, "l0@hongbang.gov.vn").await,
    };
    // The officials under test: every role in every scope (the dossiers are all the ward's).
    let mut officials = Vec::new();
    for role in Role::ALL {
        for scope in [Own, SubUnit, Other] {
            let email = format!("{}-{scope:?}@test.gov.vn", role_name(role)).to_lowercase();
            let o = app.official(&email, role, agency_of(scope)).await;
            let id = staff_id(&app, &email).await;
            officials.push((role, scope, id, o));
        }
    }
    // Dossiers the refused requests are tried on (a refusal changes nothing), by (state, assignee).
    let mut shared: HashMap<(State, Option<i64>), String> = HashMap::new();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for what in WHAT {
        let state = state_for(what);
        for (role, scope, id, o) in &officials {
            for is_assignee in [false, true] {
                if is_assignee && !assignable(state, *role, *scope) {
                    continue;
                }
                let assignee = is_assignee.then_some((*id, *scope));
                let expected = allowed(what, *role, *scope, is_assignee);
                // An allowed POST changes the dossier: each gets its own.
                let code = if expected && what.starts_with("POST ") {
                    dossier(&app, &setup, state, assignee).await
                } else {
                    let key = (state, assignee.map(|a| a.0));
                    match shared.get(&key) {
                        Some(c) => c.clone(),
                        None => {
                            let c = dossier(&app, &setup, state, assignee).await;
                            shared.insert(key, c.clone());
                            c
                        }
                    }
                };
                let got = ask(&app, o, what, &code, setup.specialist_id).await;
                checked += 1;
                if got != Ok(expected) {
                    wrong.push(format!(
                        "{what} by {role:?} ({scope:?}, assignee: {is_assignee}): {} but the table says {}",
                        match got {
                            Ok(true) => "allowed".to_string(),
                            Ok(false) => "refused".to_string(),
                            Err(s) => format!("status {s}"),
                        },
                        if expected { "allowed" } else { "refused" },
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // 20 routes and actions × 12 officials, and some of them again as the assignee.
    assert_eq!(checked, 23 * 12 + ASSIGNEE_CASES);
}

#[tokio::test]
async fn another_dossiers_file_is_never_served_under_ones_own_dossier() {
    let app = TestApp::spawn().await;
    let mine = app.submit_birth_registration().await;
    let mail = app.mailbox.wait_for(&mine, 10).await.expect("mail");
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(&app.base)
        .to_string();
    let theirs = app.shallow_clone().submit_birth_registration().await;
    let elsewhere = {
        // A dossier of another agency.
        let csrf = app.open_form(PROC).await;
        let form = form_with(
            &csrf,
            &[("agency_code", Some(OTHER_AGENCY))],
            Some((valid_pdf(), "giay-chung-sinh.pdf")),
        );
        assert_eq!(
            app.post_declaration(PROC, form).await.status().as_u16(),
            303
        );
        let (csrf, token, _, _) = app.review(PROC).await;
        let r = app
            .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
            .await;
        code_from_confirmation(&location(&r))
    };
    let own_file = attachment_id(&app, &mine).await;
    let their_file = attachment_id(&app, &theirs).await;
    let far_file = attachment_id(&app, &elsewhere).await;
    // The citizen's private link: their own file, and nothing else under it.
    assert_eq!(
        app.get(&format!("{link}/tep/{own_file}")).await.status(),
        200
    );
    for id in [their_file, far_file] {
        let r = app.get(&format!("{link}/tep/{id}")).await;
        assert_eq!(r.status().as_u16(), 404, "file {id} under {link}");
    }
    // An official who may see both ward dossiers: a file only under its own dossier.
    let o = app
        .official("motcua@hongbang.gov.vn", Reception, AGENCY)
        .await;
    assert_eq!(
        o.get(&app, &format!("/can-bo/ho-so/{mine}/tep/{own_file}"))
            .await
            .0,
        200
    );
    for id in [their_file, far_file] {
        let (s, body) = o.get(&app, &format!("/can-bo/ho-so/{mine}/tep/{id}")).await;
        assert_eq!(s, 404, "file {id} under {mine}");
        assert!(!body.starts_with("%PDF"));
    }
    // The city's leader sees every ward: still only under the file's own dossier.
    let city = app.official("lanhdao@haiphong.gov.vn", Leader, CITY).await;
    for (code, id) in [
        (&mine, their_file),
        (&theirs, far_file),
        (&elsewhere, own_file),
    ] {
        let (s, _) = city
            .get(&app, &format!("/can-bo/ho-so/{code}/tep/{id}"))
            .await;
        assert_eq!(s, 404, "file {id} under {code}");
    }
}

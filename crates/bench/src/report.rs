//! The results as a Markdown report (printed, and written to `bench-results/latest.md`).

use crate::load::Stats;
use crate::{BackendResult, Pair, Run};
use std::fmt::Write;

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn rate(s: &Stats) -> String {
    let mut r = format!("{:.1}/s", s.rate);
    if s.errors > 0 {
        let _ = write!(r, " ({} err)", s.errors);
    }
    r
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn row_rate(out: &mut String, what: &str, p: &Option<Pair>) {
    if let Some(p) = p {
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} |",
            rate(&p.portal),
            rate(&p.baseline),
            ratio(p.portal.rate, p.baseline.rate)
        );
    }
}

fn row_lat(out: &mut String, what: &str, p: &Option<Pair>) {
    if let Some(p) = p {
        let _ = writeln!(
            out,
            "| {what} | {} / {} ms{} | {} / {} ms{} | p99 {} |",
            ms(p.portal.p50_ms),
            ms(p.portal.p99_ms),
            errs(&p.portal),
            ms(p.baseline.p50_ms),
            ms(p.baseline.p99_ms),
            errs(&p.baseline),
            ratio(p.portal.p99_ms, p.baseline.p99_ms)
        );
    }
}

fn errs(s: &Stats) -> String {
    if s.errors > 0 {
        format!(" ({} err)", s.errors)
    } else {
        String::new()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

fn backend(out: &mut String, b: &BackendResult, run: &Run) {
    let _ = writeln!(out, "### {}\n", b.backend);
    let _ = writeln!(out, "| measure | portal | baseline | portal/baseline |");
    let _ = writeln!(out, "|---|---|---|---|");
    row_rate(
        out,
        &if let Some(m) = b.submit_max.as_ref().filter(|m| m.rounds > 1) {
            format!(
                "submissions, max ({} concurrent citizens, closed loop, median of {} interleaved rounds of {:.0} s)",
                run.users,
                m.rounds,
                m.portal.seconds / m.rounds as f64
            )
        } else {
            format!(
                "submissions, max ({} concurrent citizens, closed loop)",
                run.users
            )
        },
        &b.submit_max,
    );
    if let Some(p) = &b.submit_50 {
        row_lat(
            out,
            &format!(
                "submission p50 / p99 at 50% of max ({:.1}/s vs {:.1}/s, open loop)",
                p.portal.target_rate, p.baseline.target_rate
            ),
            &b.submit_50,
        );
    }
    if let Some(p) = &b.submit_80 {
        row_lat(
            out,
            &format!(
                "submission p50 / p99 at 80% of max ({:.1}/s vs {:.1}/s, open loop)",
                p.portal.target_rate, p.baseline.target_rate
            ),
            &b.submit_80,
        );
    }
    if let Some(p) = &b.submit_max
        && let (Some(pc), Some(bc)) = (&p.portal.cpu, &p.baseline.cpu)
    {
        let total = |c: &crate::load::CpuPerOp| c.server_ms + c.database_ms + c.client_ms;
        let _ = writeln!(
            out,
            "| CPU ms per submission in that phase: server + database + load generator | {} + {} + {} = {} | {} + {} + {} = {} | {} |",
            ms(pc.server_ms),
            ms(pc.database_ms),
            ms(pc.client_ms),
            ms(total(pc)),
            ms(bc.server_ms),
            ms(bc.database_ms),
            ms(bc.client_ms),
            ms(total(bc)),
            ratio(total(pc), total(bc))
        );
    }
    if b.api_submit_max.is_some() {
        row_rate(
            out,
            &format!(
                "filings through the partner API (multipart, bearer token, Idempotency-Key), max ({} concurrent clients) vs the baseline's same durable writes (target ≥ 0.5×)",
                run.users
            ),
            &b.api_submit_max,
        );
    }
    if let Some(w) = &b.webhooks {
        let _ = writeln!(
            out,
            "| webhook deliveries to a local receiver: {} of {} events; per second during the filings / draining the backlog of {} | {:.1} / {:.1} | — | — |",
            w.received, w.events, w.backlog, w.during_per_s, w.drain_per_s
        );
    }
    if b.paid_max.is_some() {
        row_rate(
            out,
            &format!(
                "paid journeys, max (fee at filing: form, declaration, review, send → gateway, IPN, return page; {} concurrent citizens, closed loop)",
                run.users
            ),
            &b.paid_max,
        );
    }
    if let (Some(p), Some(i)) = (&b.api_submit_max, &b.api_minimal_max) {
        let _ = writeln!(
            out,
            "| *reference:* API filings vs the baseline's durable insert alone (the file and the dossier row, no records; one round) | {} | {} | {} |",
            rate(&p.portal),
            rate(i),
            ratio(p.portal.rate, i.rate)
        );
    }
    if let (Some(p), Some(i)) = (&b.paid_max, &b.paid_minimal_max) {
        let _ = writeln!(
            out,
            "| *reference:* paid journeys vs the baseline writing only the dossier and payment rows (no records; one round) | {} | {} | {} |",
            rate(&p.portal),
            rate(i),
            ratio(p.portal.rate, i.rate)
        );
    }
    if let (Some(p), Some(i)) = (&b.submit_max, &b.insert_only_max) {
        let _ = writeln!(
            out,
            "| *reference:* the durable insert alone on the baseline (1 POST, no pages), max | {} | {} | {} |",
            rate(&p.portal),
            rate(i),
            ratio(p.portal.rate, i.rate)
        );
    }
    for (label, max, lat) in [
        (
            "status page `/tra-cuu?ma=`",
            &b.lookup_page_max,
            &b.lookup_page_lat,
        ),
        (
            "status API `/api/v1/dossiers/{code}/status`",
            &b.lookup_api_max,
            &b.lookup_api_lat,
        ),
        (
            &*format!(
                "catalogue search `/thu-tuc?q=` ({} procedures)",
                run.procedures
            ),
            &b.search_max,
            &b.search_lat,
        ),
    ] {
        row_rate(
            out,
            &format!(
                "{label}, max ({} connections, closed loop)",
                run.connections
            ),
            max,
        );
        if let Some(l) = lat {
            row_lat(
                out,
                &format!(
                    "{label} p50 / p99 at {:.0}/s (open loop{}, median of {} interleaved rounds of {:.0} s)",
                    l.portal.target_rate,
                    match run.open_connections {
                        0 => String::new(),
                        n => format!(" over ≤ {n} connections"),
                    },
                    l.rounds,
                    l.portal.seconds / l.rounds.max(1) as f64
                ),
                lat,
            );
        }
    }
    if let Some(l) = &b.search_vs_first_page {
        let _ = writeln!(
            out,
            "| *the portal alone:* search `/thu-tuc?q=` p50 / p99 (portal column) against the unfiltered first page `/thu-tuc` (baseline column) at {:.0}/s (median of {} interleaved rounds) | {} / {} ms | {} / {} ms | p99 {} |",
            l.portal.target_rate,
            l.rounds,
            ms(l.portal.p50_ms),
            ms(l.portal.p99_ms),
            ms(l.baseline.p50_ms),
            ms(l.baseline.p99_ms),
            ratio(l.portal.p99_ms, l.baseline.p99_ms)
        );
    }
    let _ = writeln!(
        out,
        "| peak memory (VmHWM) | {:.1} MB | {:.1} MB | {} |",
        b.portal_vmhwm_kb as f64 / 1024.0,
        b.baseline_vmhwm_kb as f64 / 1024.0,
        ratio(b.portal_vmhwm_kb as f64, b.baseline_vmhwm_kb as f64)
    );
    let _ = writeln!(
        out,
        "\n`import-catalog` of {} procedures: {:.1} s. Dossiers filed on the portal during the run: {}. \
         Portal memory: peak {:.1} MB once started with the catalogue loaded, before any request; resident {:.1} MB at the end.\n",
        run.procedures,
        b.import_seconds,
        b.dossiers_in_portal,
        b.portal_start_vmhwm_kb as f64 / 1024.0,
        b.portal_end_rss_kb as f64 / 1024.0
    );
    if b.journey_steps_ms.len() == 5 {
        let s = &b.journey_steps_ms;
        let _ = writeln!(
            out,
            "One citizen alone, mean time per request of the journey: form {} ms, declaration with the PDF {} ms, \
             review {} ms, send {} ms, confirmation {} ms (total {} ms).\n",
            ms(s[0]),
            ms(s[1]),
            ms(s[2]),
            ms(s[3]),
            ms(s[4]),
            ms(s.iter().sum())
        );
    }
    let _ = writeln!(out, "Targets:\n");
    if let Some(p) = &b.submit_max {
        let r = p.portal.rate / p.baseline.rate.max(1e-9);
        let _ = writeln!(
            out,
            "- submissions ≥ 0.5× baseline (the same five-request journey on bare axum): {:.2}× — {}",
            r,
            verdict(r >= 0.5)
        );
    }
    if let Some(p) = &b.paid_max {
        let r = p.portal.rate / p.baseline.rate.max(1e-9);
        let _ = writeln!(
            out,
            "- paid journeys ≥ 0.5× baseline (filing + redirect + IPN + return page, the same durable writes on bare axum: dossier, payment and the records): {:.2}× — {}",
            r,
            verdict(r >= 0.5)
        );
        if let Some((got, expected)) = b.paid_mails {
            let _ = writeln!(
                out,
                "  (their e-mails, two a journey: {got} of {expected} received by the SMTP relay)"
            );
        }
    }
    if let Some(p) = &b.api_submit_max {
        let r = p.portal.rate / p.baseline.rate.max(1e-9);
        let _ = writeln!(
            out,
            "- API filings ≥ 0.5× baseline (the same durable writes on bare axum: the file, the dossier and the records): {:.2}× — {}",
            r,
            verdict(r >= 0.5)
        );
    }
    for (label, lat) in [
        ("status page", &b.lookup_page_lat),
        ("status API", &b.lookup_api_lat),
    ] {
        if let Some(p) = lat {
            let r = p.portal.p99_ms / p.baseline.p99_ms.max(1e-9);
            let _ = writeln!(
                out,
                "- {label} p99 ≤ 3× baseline p99: {} ms vs {} ms = {:.2}× — {}",
                ms(p.portal.p99_ms),
                ms(p.baseline.p99_ms),
                r,
                verdict(r <= 3.0)
            );
        }
    }
    if let Some(l) = &b.search_vs_first_page {
        let r = l.portal.p99_ms / l.baseline.p99_ms.max(1e-9);
        let _ = writeln!(
            out,
            "- search p99 ≤ 2× the unfiltered first catalogue page p99 (both on the portal): {} ms vs {} ms = {:.2}× — {}",
            ms(l.portal.p99_ms),
            ms(l.baseline.p99_ms),
            r,
            verdict(r <= 2.0)
        );
    }
    if b.portal_idle_empty_rss_kb > 0 && b.portal_idle_rss_kb > 0 {
        let extra = (b.portal_idle_rss_kb as f64 - b.portal_idle_empty_rss_kb as f64) / 1024.0;
        let _ = writeln!(
            out,
            "- idle portal with {} procedures ≤ 30 MB above the empty catalogue (VmRSS): {:.1} MB vs {:.1} MB = +{extra:.1} MB — {}",
            run.procedures,
            b.portal_idle_rss_kb as f64 / 1024.0,
            b.portal_idle_empty_rss_kb as f64 / 1024.0,
            verdict(extra <= 30.0)
        );
    }
    let mb = b.portal_vmhwm_kb as f64 / 1024.0;
    let _ = writeln!(
        out,
        "- portal memory under load ≤ 150 MB: {mb:.1} MB — {}",
        verdict(mb <= 150.0)
    );
    if let Some(c) = &b.crowd {
        let peak = c.rss_peak_kb as f64 / 1024.0;
        let _ = writeln!(
            out,
            "- crowd ({} of {} kept-alive connections open, one request each every {:.0} s, pages and lookups; {} ok): \
             p50 {} ms, p99 {} ms (target ≤ 300 ms) — {}; errors {} (target 0) — {}; portal resident memory {:.1} MB before, \
             peak {peak:.1} MB (target ≤ 150 MB) — {}{}",
            c.connected,
            c.connections,
            c.interval_s,
            c.ok,
            ms(c.p50_ms),
            ms(c.p99_ms),
            verdict(c.p99_ms <= 300.0),
            c.errors,
            verdict(c.errors == 0 && c.connected == c.connections),
            c.rss_before_kb as f64 / 1024.0,
            verdict(peak <= 150.0),
            c.first_error
                .as_deref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out);
}

pub fn markdown(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Benchmark: portal vs bare axum baseline{}\n",
        if run.quick { " (quick smoke run)" } else { "" }
    );
    let _ = writeln!(
        out,
        "Command: `{}` — started {} — commit {} — {:.0} s wall time.\n",
        run.command, run.started, run.git_commit, run.wall_seconds
    );
    let _ = writeln!(
        out,
        "Machine: {} cores, shared; load average before {} / after {}; other compiler processes running before {} / after {}; \
         creating a file took {:.0} µs at the start (after waiting {:.0} s for files removed just before to settle: \
         ext4 without a journal passes over inodes freed in the last 30–60 s). \
         The load generator runs on the same cores as the servers.\n",
        run.machine.cores,
        run.machine.loadavg_before,
        run.machine.loadavg_after,
        run.machine.other_compilers_before,
        run.machine.other_compilers_after,
        run.machine.file_create_us,
        run.machine.settle_wait_s
    );
    let _ = writeln!(
        out,
        "Each phase lasts {:.0} s. A *submission* on the portal is the complete journey of a citizen with a fresh \
         browser: GET the form → multipart POST (CSRF first, 19 answers, a 100 KB PDF) → GET review → POST send \
         (CSRF + submit token) → GET the confirmation page, i.e. 5 requests. The baseline does the same five \
         requests on bare axum (no middleware, no session, no validation, minimal templates) with the same durable \
         work: the declaration POST writes the 100 KB file with fsync of the file and its directory and commits a \
         draft row; the send POST commits the dossier row made from the draft and deletes the draft in one \
         transaction; the other three read and render. The reference row *durable insert alone* is one multipart \
         POST to the baseline doing only the file and one committed dossier row, the floor under any submission. \
         For the paid journey and the API filings the baseline also writes, in the same transactions, the \
         records the portal writes with them (its routes ending in `-all`): the attachment row, one timeline \
         event per change with its chained HMAC, an audit entry per event with its MAC, the e-mail in an outbox \
         and, for an API filing, the webhook delivery (primary keys only; not the portal's statistics queue, \
         session update or access link); the rows *reference* compare with the baseline writing only the \
         dossier (and payment) rows. \
         Latencies at a fixed rate come from an open-loop generator that \
         schedules requests at fixed intervals and measures from the scheduled start (coordinated omission \
         corrected). Portal settings: release build, `DVC_CAPTCHA=off`, rate limits raised, `DVC_LOG=warn`, \
         e-mails sent over SMTP (`DVC_SMTP_URL`, as in production) to a relay in the load generator that counts and discards them, `DVC_TRUST_PROXY=true` with each simulated browser sending its own \
         address in `X-Forwarded-For` (as behind a deployment's reverse proxy: the per-address upload places \
         apply to each citizen, not to the load generator as a whole).\n",
        run.seconds_per_phase
    );
    for b in &run.backends {
        backend(&mut out, b, run);
    }
    out
}

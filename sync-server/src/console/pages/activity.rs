//! The activity page: syncs and refusals per day, as a chart.

use super::layout::{failed, page};
use super::text::t;
use super::{Lang, Visit, esc};
use crate::console::api;
use crate::storage::AdminRole;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// A bar chart (SVG) of accepted changes and refusals per day.
pub fn chart_svg(lang: Lang, days: &[api::Day]) -> String {
    let (w, h, pad) = (720.0_f64, 240.0_f64, 30.0_f64);
    let max = days
        .iter()
        .map(|d| (d.writes + d.deliveries).max(d.refusals))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = days.len().max(1) as f64;
    let slot = (w - 2.0 * pad) / n;
    let bar = (slot / 2.0 - 2.0).max(2.0);
    let mut s = format!(
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" role=\"img\" \
         aria-label=\"{}\" style=\"width:100%;max-width:{w}px;height:auto\">",
        h + 40.0,
        esc(t(lang, "chart"))
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#9aa9b6\"/>\
         <text x=\"{pad}\" y=\"14\" font-size=\"12\" fill=\"#5b6b78\">max {}</text>",
        w - pad,
        max as u64
    );
    for (i, d) in days.iter().enumerate() {
        let x = pad + i as f64 * slot;
        let syncs = d.writes + d.deliveries;
        let hw = (syncs as f64 / max) * (h - 30.0);
        let hr = (d.refusals as f64 / max) * (h - 30.0);
        let _ = write!(
            s,
            "<rect class=\"syncs\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{hw:.1}\" fill=\"#24527a\"><title>{} {}: {}</title></rect>\
             <rect class=\"refusals\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{hr:.1}\" fill=\"#c0392b\"><title>{} {}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"11\" fill=\"#5b6b78\" text-anchor=\"middle\">{}</text>",
            h - hw,
            esc(&d.day),
            t(lang, "syncs"),
            syncs,
            x + bar + 2.0,
            h - hr,
            esc(&d.day),
            t(lang, "refusals"),
            d.refusals,
            x + bar,
            h + 16.0,
            esc(d.day.get(5..).unwrap_or(&d.day)),
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{pad}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#24527a\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#c0392b\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text></svg>",
        h + 24.0,
        pad + 16.0,
        h + 34.0,
        t(lang, "syncs"),
        pad + 300.0,
        h + 24.0,
        pad + 316.0,
        h + 34.0,
        t(lang, "refusals"),
    );
    s
}

pub(super) async fn activity_page(v: Visit) -> Response {
    let (st, lang, s) = admit!(v.for_role(AdminRole::ItAdmin, "stats", None).await);
    match api::daily_stats(&st, 14).await {
        Ok(d) => {
            let body = format!(
                "<section><h2>{}</h2><p class=\"muted\">{}</p>{}</section>",
                t(lang, "activity"),
                t(lang, "chart"),
                chart_svg(lang, &d.days)
            );
            page(lang, t(lang, "activity"), Some((&s, "activity")), &body).into_response()
        }
        Err(e) => failed(lang, Some(&s), e),
    }
}

//! Prometheus metrics: the recorder, once per process, and `GET /metrics`.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub(super) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("omkijken_ack_latency_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
            }
            // Register the series at zero, so a fresh server's /metrics is not empty and
            // dashboards see them before the first device connects.
            metrics::gauge!("omkijken_connected_devices").increment(0.0);
            metrics::gauge!("omkijken_open_connections").increment(0.0);
            metrics::gauge!("omkijken_sync_states").increment(0.0);
            metrics::counter!("omkijken_rate_limited_total").increment(0);
            metrics::counter!("omkijken_enroll_throttled_total").increment(0);
            metrics::counter!("omkijken_enroll_slowed_total").increment(0);
            metrics::counter!("omkijken_enroll_failures_total", "reason" => "bad_code")
                .increment(0);
            for reason in ["per_address", "full"] {
                metrics::counter!("omkijken_connections_refused_total", "reason" => reason)
                    .increment(0);
            }
            for reason in [
                "header_timeout",
                "idle_timeout",
                "evicted",
                "hello_timeout",
                "session_idle",
                "slow_reader",
            ] {
                metrics::counter!("omkijken_connections_closed_total", "reason" => reason)
                    .increment(0);
            }
            for name in [
                "omkijken_acked_changes_total",
                "omkijken_bytes_in_total",
                "omkijken_bytes_out_total",
                "omkijken_frames_in_total",
                "omkijken_frames_out_total",
                "omkijken_protocol_errors_total",
            ] {
                metrics::counter!(name).increment(0);
            }
            handle
        })
        .clone()
}

pub(super) async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

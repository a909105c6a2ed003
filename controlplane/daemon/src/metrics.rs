//! Prometheus `/metrics` for lnsd (`[metrics] listen`).
//!
//! What is exported (all names prefixed `xlns_`):
//! - `tunnels{state}`, `sessions{state="up|setup"}`: gauges.
//! - `session_setups_total`; `session_setup_failures_total{cause}` for
//!   calls that never had a subscriber up (cause: the cause table's label,
//!   e.g. `auth_failed`, `lcp_negotiation`, `no_address` (`cause::DownCause::row`),
//!   or `l2tp` when the call ended before PPP).
//! - `l2tp_total{counter}`: the endpoint's counters (messages, drops by
//!   reason); `engine_total{counter}`: PPP orphans, punted data, RADIUS
//!   and Disconnect/CoA outcomes, refused admin requests.
//! - `radius_requests_total`, `radius_timeouts_total`,
//!   `radius_retransmits_total`, `radius_failovers_total`, and the
//!   histogram `radius_response_seconds`.
//! - Multi-hop gateway: `switched_sessions{state="up|setup"}`,
//!   `switch_target_failures_total{target}` (failures by target LNS),
//!   `switch_target_held_down{target}` (1 while a target is skipped); the
//!   gateway's counters are in `engine_total` (`switch_*`).
//! - With the data plane: `dataplane_attach_mode{mode}` (1 for the mode in
//!   use), `dataplane_packets_total{worker,counter}`,
//!   `dataplane_drops_total{worker,reason}`, `xdp_verdicts_total{verdict}`.
//!
//! The values are the engine's own counters, copied into the exporter's
//! registry at each scrape (on the engine task, like any admin request),
//! so a scrape never races the protocol and costs nothing between
//! scrapes. The HTTP side is a minimal HTTP/1.1 responder: `GET /metrics`
//! gets the text format, anything else 404.

use super::snapshot::{Request, Snapshot};
use metrics::{Recorder, counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// The exporter's registry.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("xlns_radius_response_seconds".into()),
                &[
                    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        Metrics { recorder, handle }
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        with_local_recorder(&self.recorder as &dyn Recorder, f)
    }

    /// RADIUS response times since the last scrape.
    fn radius_latencies(&self, samples: &[Duration]) {
        self.with(|| {
            let h = histogram!("xlns_radius_response_seconds");
            for d in samples {
                h.record(d.as_secs_f64());
            }
        });
    }

    /// Copies a statistics snapshot in and renders the text format.
    pub fn render(&self, snap: &Snapshot) -> String {
        self.radius_latencies(&snap.radius_latencies);
        let (s, tunnel_states, switched) = (&snap.stats, &snap.tunnel_states, &snap.switched);
        let radius = snap.radius.as_ref();
        self.with(|| {
            let up = switched.calls.iter().filter(|c| c.state == "up").count();
            gauge!("xlns_switched_sessions", "state" => "up").set(up as f64);
            gauge!("xlns_switched_sessions", "state" => "setup")
                .set((switched.calls.len() - up) as f64);
            for (target, n) in &switched.target_failures {
                counter!("xlns_switch_target_failures_total", "target" => target.clone())
                    .absolute(*n);
                let held = switched.held.iter().any(|h| &h.endpoint == target);
                gauge!("xlns_switch_target_held_down", "target" => target.clone())
                    .set(f64::from(u8::from(held)));
            }
            for (state, n) in tunnel_states {
                gauge!("xlns_tunnels", "state" => state.clone()).set(*n as f64);
            }
            gauge!("xlns_sessions", "state" => "up").set(s.subscribers_up as f64);
            gauge!("xlns_sessions", "state" => "setup")
                .set(s.sessions.saturating_sub(s.subscribers_up) as f64);
            counter!("xlns_session_setups_total").absolute(snap.setups);
            for (cause, n) in &snap.setup_failures {
                counter!("xlns_session_setup_failures_total", "cause" => cause.clone()).absolute(*n);
            }
            for (k, v) in &s.l2tp {
                counter!("xlns_l2tp_total", "counter" => k.clone()).absolute(*v);
            }
            for (k, v) in &s.engine {
                counter!("xlns_engine_total", "counter" => k.clone()).absolute(*v);
            }
            if let Some(r) = radius {
                counter!("xlns_radius_requests_total").absolute(r.requests);
                counter!("xlns_radius_timeouts_total").absolute(r.timeouts);
                counter!("xlns_radius_retransmits_total").absolute(r.retransmits);
                counter!("xlns_radius_failovers_total").absolute(r.failovers);
            }
            if s.table_bytes > 0 {
                gauge!("xlns_table_bytes", "pages" => "all").set(s.table_bytes as f64);
                gauge!("xlns_table_bytes", "pages" => "huge").set(s.table_huge_page_bytes as f64);
                gauge!("xlns_table_sessions_away").set(s.table_sessions_away as f64);
            }
            if !s.dataplane_mode.is_empty() {
                for m in ["native-zerocopy", "native-copy", "generic", "not attached"] {
                    gauge!("xlns_dataplane_attach_mode", "mode" => m)
                        .set(f64::from(u8::from(s.dataplane_mode == m)));
                }
            }
            for w in &s.workers {
                let worker = w.worker.to_string();
                for (k, v) in &w.counters {
                    counter!("xlns_dataplane_packets_total", "worker" => worker.clone(), "counter" => k.clone())
                        .absolute(*v);
                }
                for (k, v) in &w.drops {
                    counter!("xlns_dataplane_drops_total", "worker" => worker.clone(), "reason" => k.clone())
                        .absolute(*v);
                }
            }
            for (k, v) in &s.xdp {
                counter!("xlns_xdp_verdicts_total", "verdict" => k.clone()).absolute(*v);
            }
        });
        self.handle.render()
    }
}

/// Serves `GET /metrics` on `listen`; each scrape asks the engine for a
/// [`Snapshot`] and renders it. Returns the bound address.
pub async fn start(listen: SocketAddr, calls: mpsc::Sender<Request>) -> Result<SocketAddr, String> {
    // One registry; scrapes render one at a time.
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(Metrics::new()));
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot bind metrics.listen {listen}: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = l.accept().await else {
                continue;
            };
            let calls = calls.clone();
            let metrics = std::sync::Arc::clone(&metrics);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                // The request head; a scraper sends a few hundred bytes.
                while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf[n..]))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                        Ok(Ok(k)) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let is_get = head.starts_with("GET ");
                let (status, body) =
                    if is_get && (path == "/metrics" || path.starts_with("/metrics?")) {
                        let (tx, rx) = oneshot::channel();
                        match calls.send(tx).await {
                            Ok(()) => match rx.await {
                                Ok(snap) => match metrics.lock() {
                                    Ok(m) => ("200 OK", m.render(&snap)),
                                    Err(_) => ("500 Internal Server Error", "\n".into()),
                                },
                                _ => ("503 Service Unavailable", "lnsd is shutting down\n".into()),
                            },
                            Err(_) => ("503 Service Unavailable", "lnsd is shutting down\n".into()),
                        }
                    } else {
                        ("404 Not Found", "metrics are at /metrics\n".into())
                    };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pb;

    #[test]
    fn a_snapshot_renders_as_prometheus_text() {
        let m = Metrics::new();
        let mut s = pb::Stats {
            tunnels: 1,
            sessions: 9,
            subscribers_up: 7,
            dataplane_mode: "native-copy".into(),
            table_bytes: 300 << 20,
            table_huge_page_bytes: 284 << 20,
            table_sessions_away: 3,
            ..Default::default()
        };
        s.l2tp.insert("rx_messages".into(), 42);
        s.workers.push(pb::WorkerStats {
            worker: 0,
            counters: [("upstream_packets".to_string(), 100)].into(),
            drops: [("spoofed".to_string(), 3), ("rate_limited".to_string(), 11)].into(),
        });
        let radius = lns_protocol::aaa::radius::client::Stats {
            requests: 5,
            timeouts: 1,
            ..Default::default()
        };
        let states = [("established".to_string(), 1)].into();
        let switched = pb::ListSwitchedResponse {
            calls: vec![
                pb::SwitchedCall {
                    state: "up".into(),
                    ..Default::default()
                },
                pb::SwitchedCall {
                    state: "setup".into(),
                    ..Default::default()
                },
            ],
            held: vec![pb::HeldTarget {
                endpoint: "192.0.2.7:1701".into(),
                remaining_secs: 30,
                failures: 2,
            }],
            target_failures: [
                ("192.0.2.7:1701".to_string(), 2),
                ("192.0.2.8:1701".to_string(), 1),
            ]
            .into(),
        };
        let snap = Snapshot {
            stats: s,
            switched,
            tunnel_states: states,
            radius: Some(radius),
            setups: 7,
            setup_failures: [("auth_failed".to_string(), 2)].into(),
            radius_latencies: vec![Duration::from_millis(3), Duration::from_millis(40)],
        };
        let text = m.render(&snap);
        for line in [
            "xlns_sessions{state=\"up\"} 7",
            "xlns_sessions{state=\"setup\"} 2",
            "xlns_session_setups_total 7",
            "xlns_session_setup_failures_total{cause=\"auth_failed\"} 2",
            "xlns_tunnels{state=\"established\"} 1",
            "xlns_l2tp_total{counter=\"rx_messages\"} 42",
            "xlns_dataplane_packets_total{worker=\"0\",counter=\"upstream_packets\"} 100",
            "xlns_dataplane_drops_total{worker=\"0\",reason=\"spoofed\"} 3",
            "xlns_dataplane_drops_total{worker=\"0\",reason=\"rate_limited\"} 11",
            "xlns_table_bytes{pages=\"all\"} 314572800",
            "xlns_table_bytes{pages=\"huge\"} 297795584",
            "xlns_table_sessions_away 3",
            "xlns_dataplane_attach_mode{mode=\"native-copy\"} 1",
            "xlns_dataplane_attach_mode{mode=\"generic\"} 0",
            "xlns_radius_requests_total 5",
            "xlns_radius_timeouts_total 1",
            "xlns_radius_response_seconds_bucket{le=\"0.005\"} 1",
            "xlns_radius_response_seconds_bucket{le=\"0.05\"} 2",
            "xlns_radius_response_seconds_count 2",
            "xlns_switched_sessions{state=\"up\"} 1",
            "xlns_switched_sessions{state=\"setup\"} 1",
            "xlns_switch_target_failures_total{target=\"192.0.2.7:1701\"} 2",
            "xlns_switch_target_held_down{target=\"192.0.2.7:1701\"} 1",
            "xlns_switch_target_held_down{target=\"192.0.2.8:1701\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}

//! The outbox state a device reports (`hello`'s `outbox`, the `outbox` frame;
//! docs/protocol.md, "Outbox state"): counts only, bounded, kept on the device row with the
//! time it came, for the admin console's devices table.

use super::{ConnId, Hub, Outgoing};
use crate::Result;
use crate::storage::{Batch, DeviceOutbox};
use omkijken_core::sync::OutboxState;

impl Hub {
    /// A report of session `conn` as it is kept: values beyond the bounds are clamped (a
    /// device may send anything; this is a report for people, not a reason to end a sync).
    pub(super) fn outbox_report(
        &mut self,
        conn: ConnId,
        state: OutboxState,
        now: i64,
    ) -> DeviceOutbox {
        if state.out_of_bounds() {
            metrics::counter!("omkijken_outbox_reports_clamped_total").increment(1);
            if let Some(s) = self.sessions.get(&conn) {
                tracing::warn!(device = %s.device.id, "outbox report beyond the bounds: clamped");
            }
        }
        DeviceOutbox::reported(state, now)
    }

    /// An `outbox` frame: store the report (no answer).
    pub(super) fn outbox(
        &mut self,
        now: i64,
        conn: ConnId,
        state: OutboxState,
    ) -> Result<Outgoing> {
        let report = self.outbox_report(conn, state, now);
        let Some(session) = self.sessions.get(&conn) else {
            return Ok(vec![]);
        };
        let device = session.device.id.clone();
        self.storage.commit(Batch {
            outbox: vec![(device, report)],
            ..Default::default()
        })?;
        Ok(vec![])
    }
}

//! The local read log uploaded in `readLog` frames and marked on `logAck`; empty `readLog`
//! frames double as barriers that tell when the fetches sent before them are answered.

use super::{ClientEngine, ClientOutput};
use crate::Result;
use crate::sync::frames::{Frame, MAX_LOG_ENTRIES, ReadLogEntry};

impl ClientEngine {
    /// Upload what the read log holds and the server has not acknowledged (one frame).
    pub(super) fn send_read_log(&mut self, out: &mut Vec<ClientOutput>) -> Result<()> {
        let rows = self.store.pending_access_log(MAX_LOG_ENTRIES)?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(());
        };
        let entries = rows
            .into_iter()
            .map(|r| ReadLogEntry {
                seq: r.seq,
                document_id: r.doc,
                kind: r.kind,
                at: r.at,
            })
            .collect();
        self.session.log_inflight.push_back(Some(last));
        out.push(ClientOutput::Send(Frame::ReadLog { entries }));
        Ok(())
    }

    /// A `logAck` frame: the answer to the oldest `readLog` in flight.
    pub(super) fn on_log_ack(&mut self, seq: i64, out: &mut Vec<ClientOutput>) -> Result<()> {
        let Some(sent) = self.session.log_inflight.pop_front() else {
            return Ok(());
        };
        if let Some(sent) = sent {
            self.log_uploaded(seq.min(sent), sent, out)?;
        }
        self.barrier_answered(out)
    }

    /// The rows up to `up_to` are on the server; the frame sent carried rows up to `sent`.
    fn log_uploaded(&mut self, up_to: i64, sent: i64, out: &mut Vec<ClientOutput>) -> Result<()> {
        let n = self
            .store
            .pending_access_log(MAX_LOG_ENTRIES)?
            .iter()
            .filter(|e| e.seq <= up_to)
            .count();
        self.store.mark_access_log_uploaded(up_to)?;
        self.stats.log_uploaded += n as u64;
        if up_to == sent && self.session.log_inflight.iter().all(Option::is_none) {
            self.send_read_log(out)?;
        }
        Ok(())
    }

    /// One more `logAck`: a barrier whose own answer this is tells that the fetches sent
    /// before it are answered.
    fn barrier_answered(&mut self, out: &mut Vec<ClientOutput>) -> Result<()> {
        let mut answered = false;
        for (n, ids) in &mut self.session.fetch_barriers {
            *n -= 1;
            if *n == 0 {
                // Every fetch sent before it is answered: what is still pending of
                // them was left out.
                answered = true;
                for id in ids.drain(..) {
                    if self.session.pending_fetch.remove(&id).is_some() {
                        self.session.done += 1;
                    }
                }
            }
        }
        if answered {
            self.session.fetch_barriers.retain(|(n, _)| *n > 0);
            self.progress(out);
            self.maybe_caught_up(out)?;
        }
        Ok(())
    }
}

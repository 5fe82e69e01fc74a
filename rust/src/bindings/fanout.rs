//! The fan-out writer for Python: `FanoutWriter` over [`crate::fanout::Writer`].

use crate::fanout::{self, Config, Event, Message, Writer};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// Writes pre-encoded event-stream frames to WebSocket connections from its own thread.
#[pyclass(frozen, module = "strato._core", name = "FanoutWriter")]
pub struct PyFanoutWriter {
    writer: Writer,
}

fn messages(frames: Vec<Bound<'_, PyBytes>>) -> Vec<Message> {
    frames
        .iter()
        .map(|frame| fanout::binary_message(frame.as_bytes()))
        .collect()
}

#[pymethods]
impl PyFanoutWriter {
    #[new]
    #[pyo3(signature = (
        *, live_backlog_frames, live_backlog_bytes, stall_timeout, close_grace, too_slow_frame
    ))]
    fn new(
        live_backlog_frames: usize,
        live_backlog_bytes: usize,
        stall_timeout: f64,
        close_grace: f64,
        too_slow_frame: &Bound<'_, PyBytes>,
    ) -> PyResult<Self> {
        let stall_timeout = Duration::try_from_secs_f64(stall_timeout)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| PyValueError::new_err("stall_timeout must be a duration > 0"))?;
        let close_grace = Duration::try_from_secs_f64(close_grace)
            .map_err(|_| PyValueError::new_err("close_grace must be a duration >= 0"))?;
        let config = Config {
            live_backlog_frames,
            live_backlog_bytes,
            stall_timeout,
            close_grace,
            too_slow_message: fanout::binary_message(too_slow_frame.as_bytes()),
        };
        Ok(Self {
            writer: Writer::start(config)?,
        })
    }

    /// Takes ownership of `fd` (a connected socket after the upgrade; the caller must not use
    /// or close it again) and returns the connection's id.
    #[pyo3(signature = (fd, *, live = false))]
    fn add(&self, fd: i32, live: bool) -> PyResult<u64> {
        if fd < 0 {
            return Err(PyValueError::new_err("fd must be >= 0"));
        }
        // SAFETY: the caller hands the fd over (socket.detach()); from here only this owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(self.writer.add(owned, live)?)
    }

    /// Queues frames to one connection; with `notify_drained`, a `("drained", id)` event comes
    /// once its queue is empty.
    #[pyo3(signature = (id, frames, *, notify_drained = true))]
    fn send(&self, id: u64, frames: Vec<Bound<'_, PyBytes>>, notify_drained: bool) {
        self.writer.send(id, messages(frames), notify_drained);
    }

    fn go_live(&self, id: u64) {
        self.writer.go_live(id);
    }

    /// Queues frames to every live connection; one over the live bound is demoted first, and
    /// a `("lagging", id, "", tag)` event reports it: it was given every broadcast before this
    /// one.
    fn broadcast(&self, frames: Vec<Bound<'_, PyBytes>>, tag: u64) {
        self.writer.broadcast(messages(frames), tag);
    }

    /// Cuts a connection as too slow: what is queued and not begun is dropped, then the
    /// too-slow frame and close 1008 `ConsumerTooSlow` are sent.
    fn cut(&self, id: u64) {
        self.writer.cut(id);
    }

    #[pyo3(signature = (id, code = 1000, reason = ""))]
    fn close(&self, id: u64, code: u16, reason: &str) {
        self.writer.close(id, code, reason);
    }

    /// Readable while events wait for :meth:`take_events`.
    #[getter]
    fn notify_fd(&self) -> i32 {
        self.writer.notify_fd()
    }

    /// `(kind, id, reason, tag)` tuples since the last call: kind is `"drained"`, `"lagging"`
    /// (tag: that of the broadcast it was demoted at; else 0), `"stalled"` (cut for taking
    /// nothing for the stall timeout) or `"closed"` (reason: `client`,
    /// `error`, `too_slow`, `closed`, `shutdown`; else "").
    fn take_events(&self) -> Vec<(&'static str, u64, &'static str, u64)> {
        self.writer
            .take_events()
            .into_iter()
            .map(|event| match event {
                Event::Drained(id) => ("drained", id, "", 0),
                Event::Lagging(id, tag) => ("lagging", id, "", tag),
                Event::Stalled(id) => ("stalled", id, "", 0),
                Event::Closed(id, reason) => ("closed", id, reason.as_str(), 0),
            })
            .collect()
    }

    /// Data messages written whole to connection `id` (None once it is closed).
    fn sent(&self, id: u64) -> Option<u64> {
        self.writer.sent(id)
    }

    /// `(data messages written, bytes written, connections open, messages queued, bytes
    /// queued)`.
    fn stats(&self) -> (u64, u64, u64, u64, u64) {
        let stats = self.writer.stats();
        (
            stats.messages,
            stats.bytes,
            stats.connections,
            stats.queued_messages,
            stats.queued_bytes,
        )
    }

    /// Closes every connection (1001 after what is queued, within the close grace) and stops
    /// the thread; waits without the GIL.
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| self.writer.shutdown());
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFanoutWriter>()
}

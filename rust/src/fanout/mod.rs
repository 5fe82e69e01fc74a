//! The fan-out writer: writes pre-encoded event-stream messages to many WebSocket connections.
//!
//! This is the one place the core does I/O. A relay sends every event, the same bytes, to
//! hundreds of subscribers; from Python each WebSocket send costs ~18 µs of interpreter and
//! event-loop work, so one core tops out near 50-60k deliveries/s. Here each frame gets its
//! WebSocket header once ([`Message`], shared by every connection), and one thread without
//! the GIL writes to each socket with a single vectored `sendmsg` of everything queued for it,
//! so the cost per delivery is a pointer in a queue and a share of one system call.
//!
//! Python does the HTTP upgrade, then hands over the connected socket ([`Writer::add`]), which
//! the writer owns from then on and closes exactly once. Per connection the writer keeps a queue
//! of messages, the offset written into the first one and the bytes queued. [`Writer::send`]
//! queues to one connection (replay, under Python's flow control: a [`Event::Drained`] comes
//! when its queue empties); [`Writer::go_live`] adds it to the set [`Writer::broadcast`] writes
//! to.
//!
//! The writer holds a bounded part of the stream, never the lag: a live connection whose queue
//! is over the live bound ([`Config::live_backlog_frames`], [`Config::live_backlog_bytes`]) at
//! the start of a broadcast is *demoted* before any of that broadcast is queued to it: it
//! leaves the live set, keeps its queue (written as its socket takes it), and
//! [`Event::Lagging`] reports it with the broadcast's tag. The caller tags each broadcast with
//! the position in its log of the last message broadcast before it, so the tag says exactly
//! what the connection has been given; the caller then serves it the rest from its log, under
//! flow control, and makes it live again once it has caught up. A live queue is judged only at
//! these batch boundaries, so it never holds more than the bound plus one broadcast, whatever
//! the connection's lag. What a broadcast or a send queues is written at once, so a queue is
//! judged by what its socket could not take, and a batch larger than the bound is no demotion
//! when the socket takes it. [`Writer::cut`] ends a connection as too slow (the caller decides,
//! from its lag): what was queued and not begun is dropped, the configured error message and a
//! close frame (1008, `ConsumerTooSlow`) are sent. The writer cuts one the same way on its own,
//! reporting [`Event::Stalled`], when frames wait for it and its socket has taken no byte for
//! [`Config::stall_timeout`]: a subscriber that stops reading holds nothing for long, live,
//! replaying or demoted; TCP keepalive finds a peer that vanished from a quiet stream within a
//! minute. The writer answers pings (one pong waiting at most, answering the latest, so a ping
//! flood queues nothing), echoes a client's close, and half-closes before closing so the last
//! frames are not lost to a reset. It counts the data messages written whole, in all and per
//! connection ([`Writer::sent`]). Every connection ends with one [`Event::Closed`] and its
//! reason; Python learns of events by the readable [`Writer::notify_fd`] and takes them with
//! [`Writer::take_events`].

mod sys;
pub mod wsframe;

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A whole WebSocket message as written to the wire, shared by every connection it goes to.
pub type Message = Arc<[u8]>;

/// A binary message carrying `payload` (an event-stream frame).
pub fn binary_message(payload: &[u8]) -> Message {
    wsframe::message(wsframe::OP_BINARY, payload).into()
}

/// Close codes the writer sends: normal (echo), going away (shutdown), protocol error, policy.
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_POLICY: u16 = 1008;

/// Messages joined into one `sendmsg` at most (below the kernel's IOV_MAX of 1024).
const MAX_IOV: usize = 256;
/// Bytes read from a client per `read`.
const READ_CHUNK: usize = 16 * 1024;
/// How long a half-closed connection may take to close its side before it is closed anyway.
const LINGER: Duration = Duration::from_secs(2);
/// TCP keepalive of every connection: a peer that vanishes without a word (a lost route, a
/// machine switched off) is found within a minute on a quiet stream, where the stall timeout
/// (which needs frames waiting) would never fire: probes after 30 s of silence, every 10 s,
/// three unanswered and the connection fails.
const KEEPALIVE_IDLE_SECS: i32 = 30;
const KEEPALIVE_INTERVAL_SECS: i32 = 10;
const KEEPALIVE_PROBES: i32 = 3;

/// The writer's limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// A live connection with more messages than this queued at the start of a broadcast is
    /// demoted ([`Event::Lagging`]).
    pub live_backlog_frames: usize,
    /// A live connection with more bytes than this queued at the start of a broadcast is
    /// demoted.
    pub live_backlog_bytes: usize,
    /// How long a connection with messages queued may go without its socket taking a byte
    /// before it is cut as too slow ([`Event::Stalled`]).
    pub stall_timeout: Duration,
    /// How long a closing connection may take to accept its last frames.
    pub close_grace: Duration,
    /// The message sent to a connection cut as too slow ([`Writer::cut`]), before its close
    /// frame.
    pub too_slow_message: Message,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it (close frame or end of stream).
    Client,
    /// Reading or writing failed, or the client broke the protocol.
    Error,
    /// [`Writer::cut`] cut it as too slow.
    TooSlow,
    /// [`Writer::close`] closed it.
    Closed,
    /// The writer shut down.
    Shutdown,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Error => "error",
            Self::TooSlow => "too_slow",
            Self::Closed => "closed",
            Self::Shutdown => "shutdown",
        }
    }
}

/// What the writer reports about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The queue of a connection that asked for it ([`Writer::send`]) is empty.
    Drained(u64),
    /// The live connection was demoted at the broadcast tagged with the second number: it was
    /// given every broadcast before that one and none from it on.
    Lagging(u64, u64),
    /// The connection's socket took no byte for the stall timeout while messages waited: it
    /// is being cut as too slow (its [`Event::Closed`] follows).
    Stalled(u64),
    /// The connection's socket is closed; the id is not used again.
    Closed(u64, CloseReason),
}

/// Counters since the writer started.
#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
    queued_messages: AtomicU64,
    queued_bytes: AtomicU64,
}

/// A snapshot of [`Writer::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages written whole to a socket (one per delivery).
    pub messages: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Connections open now.
    pub connections: u64,
    /// Messages queued and not yet written whole, over every connection (as of the I/O
    /// thread's last turn).
    pub queued_messages: u64,
    /// Bytes queued and not yet written, over every connection (as of the same turn).
    pub queued_bytes: u64,
}

enum Command {
    Add {
        id: u64,
        fd: OwnedFd,
        live: bool,
        sent: Arc<AtomicU64>,
    },
    Send {
        id: u64,
        messages: Vec<Message>,
        notify_drained: bool,
    },
    GoLive(u64),
    Broadcast {
        messages: Vec<Message>,
        tag: u64,
    },
    Cut(u64),
    Close {
        id: u64,
        code: u16,
        reason: String,
    },
    Shutdown,
}

struct Shared {
    inbox: Mutex<Vec<Command>>,
    wake: sys::EventFd,
    events: Mutex<Vec<Event>>,
    notify: sys::EventFd,
    counters: Counters,
    /// Each open connection's count of data messages written whole.
    sent: Mutex<HashMap<u64, Arc<AtomicU64>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic on the I/O thread leaves plain data behind: keep using it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The handle: commands go to the I/O thread, events come back.
pub struct Writer {
    shared: Arc<Shared>,
    next_id: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the I/O thread.
    pub fn start(config: Config) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Vec::new()),
            wake: sys::EventFd::new()?,
            events: Mutex::new(Vec::new()),
            notify: sys::EventFd::new()?,
            counters: Counters::default(),
            sent: Mutex::new(HashMap::new()),
        });
        let epoll = sys::Epoll::new()?;
        epoll.add(shared.wake.fd(), WAKE_TOKEN)?;
        let io_loop = IoLoop {
            epoll,
            shared: Arc::clone(&shared),
            config,
            conns: HashMap::new(),
            dirty: Vec::new(),
            events: Vec::new(),
            stopping: false,
        };
        let thread = std::thread::Builder::new()
            .name("strato-fanout".into())
            .spawn(move || io_loop.run())?;
        Ok(Self {
            shared,
            next_id: AtomicU64::new(1),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn command(&self, command: Command) {
        lock(&self.shared.inbox).push(command);
        self.shared.wake.signal();
    }

    /// Takes over a connected socket (after the WebSocket upgrade) and returns its id. `live`
    /// connections get broadcasts at once; others after [`Writer::go_live`].
    pub fn add(&self, fd: OwnedFd, live: bool) -> io::Result<u64> {
        sys::set_nonblocking(fd.as_raw_fd())?;
        // Best effort: a socket that is not TCP (a test's Unix socket) has no keepalive.
        let _ = sys::set_keepalive(
            fd.as_raw_fd(),
            KEEPALIVE_IDLE_SECS,
            KEEPALIVE_INTERVAL_SECS,
            KEEPALIVE_PROBES,
        );
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = Arc::new(AtomicU64::new(0));
        lock(&self.shared.sent).insert(id, Arc::clone(&sent));
        self.command(Command::Add { id, fd, live, sent });
        Ok(id)
    }

    /// The data messages (not control frames) written whole to connection `id` so far; None
    /// once it is closed.
    pub fn sent(&self, id: u64) -> Option<u64> {
        lock(&self.shared.sent)
            .get(&id)
            .map(|sent| sent.load(Ordering::Relaxed))
    }

    /// Queues `messages` to one connection; with `notify_drained`, an [`Event::Drained`]
    /// comes once its queue is empty.
    pub fn send(&self, id: u64, messages: Vec<Message>, notify_drained: bool) {
        self.command(Command::Send {
            id,
            messages,
            notify_drained,
        });
    }

    /// Adds a connection to the live set (after everything queued before this call).
    pub fn go_live(&self, id: u64) {
        self.command(Command::GoLive(id));
    }

    /// Queues `messages` to every live connection, demoting first those over the live bound:
    /// each gets an [`Event::Lagging`] with `tag` (the caller's position of what it broadcast
    /// before these).
    pub fn broadcast(&self, messages: Vec<Message>, tag: u64) {
        if !messages.is_empty() {
            self.command(Command::Broadcast { messages, tag });
        }
    }

    /// Cuts a connection as too slow: drops what is queued and not begun, then sends the
    /// configured error message and a close frame (1008, `ConsumerTooSlow`).
    pub fn cut(&self, id: u64) {
        self.command(Command::Cut(id));
    }

    /// Closes a connection after what is queued, with a close frame of `code` and `reason`.
    pub fn close(&self, id: u64, code: u16, reason: &str) {
        self.command(Command::Close {
            id,
            code,
            reason: reason.to_owned(),
        });
    }

    /// The fd that is readable while events wait for [`Writer::take_events`].
    pub fn notify_fd(&self) -> i32 {
        self.shared.notify.fd()
    }

    /// The events since the last call, in order.
    pub fn take_events(&self) -> Vec<Event> {
        self.shared.notify.drain();
        std::mem::take(&mut *lock(&self.shared.events))
    }

    pub fn stats(&self) -> Stats {
        let counters = &self.shared.counters;
        Stats {
            messages: counters.messages.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
            connections: counters.connections.load(Ordering::Relaxed),
            queued_messages: counters.queued_messages.load(Ordering::Relaxed),
            queued_bytes: counters.queued_bytes.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection (code 1001, after what is queued, within the close grace) and
    /// waits for the I/O thread to finish. Later commands are ignored.
    pub fn shutdown(&self) {
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            self.command(Command::Shutdown);
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const WAKE_TOKEN: u64 = 0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Sending what is queued, then half-closing.
    Closing,
    /// Half-closed: waiting for the client's end of stream.
    Draining,
}

struct Conn {
    fd: OwnedFd,
    queue: VecDeque<Message>,
    /// Bytes of `queue[0]` already written.
    offset: usize,
    queued_bytes: usize,
    live: bool,
    writable: bool,
    dirty: bool,
    notify_drained: bool,
    state: State,
    reason: CloseReason,
    deadline: Option<Instant>,
    /// When its socket last took a byte, or its queue last became non-empty.
    progress: Instant,
    reader: wsframe::Reader,
    /// Data messages written whole (shared with [`Writer::sent`]).
    sent: Arc<AtomicU64>,
}

impl Conn {
    fn push(&mut self, message: Message) {
        if self.queue.is_empty() {
            self.progress = Instant::now();
        }
        self.queued_bytes += message.len();
        self.queue.push_back(message);
    }

    /// Drops every queued message not yet begun.
    fn truncate_to_boundary(&mut self) {
        let keep = usize::from(self.offset > 0);
        for message in self.queue.drain(keep..) {
            self.queued_bytes -= message.len();
        }
    }

    /// Starts closing: `frames` (a close frame last) go after what is queued, then the socket
    /// is half-closed; `grace` bounds how long that may take.
    fn begin_close(&mut self, frames: Vec<Message>, reason: CloseReason, grace: Duration) {
        if self.state != State::Open {
            return;
        }
        self.live = false;
        for frame in frames {
            self.push(frame);
        }
        self.state = State::Closing;
        self.reason = reason;
        self.deadline = Some(Instant::now() + grace);
    }

    /// Reads until the socket is empty, answering pings and a close. Returns the reason to
    /// close the socket now with (end of stream or a read error), if any.
    fn read_all(&mut self, grace: Duration) -> Option<CloseReason> {
        let mut buf = [0u8; READ_CHUNK];
        let mut incoming = Vec::new();
        let open = self.state == State::Open;
        loop {
            match sys::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    return Some(if open {
                        CloseReason::Client
                    } else {
                        self.reason
                    })
                }
                Ok(n) => {
                    if self.state != State::Open {
                        continue; // closing: what the client sends no longer matters
                    }
                    if self.reader.feed(&buf[..n], &mut incoming).is_err() {
                        self.truncate_to_boundary();
                        let close = wsframe::close_message(CLOSE_PROTOCOL_ERROR, "protocol error");
                        self.begin_close(vec![close.into()], CloseReason::Error, grace);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    return Some(if open {
                        CloseReason::Error
                    } else {
                        self.reason
                    })
                }
            }
        }
        for message in incoming {
            if self.state != State::Open {
                break;
            }
            match message {
                wsframe::Incoming::Ping(payload) => {
                    // A control frame may go between messages, not inside one. One pong waits
                    // at most: it answers the latest ping for every earlier one (RFC 6455
                    // 5.5.3), so a client flooding pings grows nothing here.
                    let pong: Message = wsframe::message(wsframe::OP_PONG, &payload).into();
                    let at = usize::from(self.offset > 0).min(self.queue.len());
                    self.queued_bytes += pong.len();
                    match self.queue.get_mut(at) {
                        Some(waiting) if wsframe::opcode(waiting) == wsframe::OP_PONG => {
                            self.queued_bytes -= waiting.len();
                            *waiting = pong;
                        }
                        _ => self.queue.insert(at, pong),
                    }
                }
                wsframe::Incoming::Close(code) => {
                    self.truncate_to_boundary();
                    let echo = match code {
                        Some(code) => wsframe::close_message(code, ""),
                        None => wsframe::message(wsframe::OP_CLOSE, &[]),
                    };
                    self.begin_close(vec![echo.into()], CloseReason::Client, grace);
                }
            }
        }
        None
    }

    fn over_live_bound(&self, config: &Config) -> bool {
        self.queue.len() > config.live_backlog_frames
            || self.queued_bytes > config.live_backlog_bytes
    }

    /// Writes what is queued until done or the socket is full. Returns whole data messages
    /// written (deliveries: control frames are not counted) and bytes written.
    fn flush(&mut self) -> io::Result<(u64, u64)> {
        let (mut messages, mut bytes) = (0u64, 0u64);
        while self.writable && !self.queue.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(self.queue.len().min(MAX_IOV));
            let mut requested = 0usize;
            for (i, message) in self.queue.iter().take(MAX_IOV).enumerate() {
                let part = if i == 0 {
                    &message[self.offset..]
                } else {
                    &message[..]
                };
                requested += part.len();
                slices.push(IoSlice::new(part));
            }
            let written = match sys::send_vectored(self.fd.as_raw_fd(), &slices) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            drop(slices);
            if written > 0 {
                self.progress = Instant::now();
            }
            bytes += written as u64;
            self.queued_bytes -= written;
            let mut left = written;
            while left > 0 {
                let rest = self.queue[0].len() - self.offset;
                if left >= rest {
                    left -= rest;
                    self.offset = 0;
                    if self.queue.pop_front().is_some_and(|m| wsframe::is_data(&m)) {
                        messages += 1;
                    }
                } else {
                    self.offset += left;
                    left = 0;
                }
            }
            if written < requested {
                self.writable = false;
            }
        }
        self.sent.fetch_add(messages, Ordering::Relaxed);
        Ok((messages, bytes))
    }
}

struct IoLoop {
    epoll: sys::Epoll,
    shared: Arc<Shared>,
    config: Config,
    conns: HashMap<u64, Conn>,
    dirty: Vec<u64>,
    events: Vec<Event>,
    stopping: bool,
}

impl IoLoop {
    fn run(mut self) {
        let mut ready = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let timeout = self.timeout_ms();
            // EINTR is filtered; no other error happens with valid arguments.
            let n = self.epoll.wait(&mut ready, timeout).unwrap_or_default();
            for event in &ready[..n] {
                let (flags, token) = (event.events, event.u64);
                if token == WAKE_TOKEN {
                    self.shared.wake.drain();
                    continue;
                }
                self.on_ready(token, flags);
            }
            self.apply_commands();
            self.flush_dirty();
            self.expire();
            self.store_backlog();
            self.publish();
            if self.stopping && self.conns.is_empty() {
                return;
            }
        }
    }

    fn timeout_ms(&self) -> i32 {
        let now = Instant::now();
        self.conns
            .values()
            .filter_map(|conn| conn.deadline.or_else(|| self.stall_deadline(conn)))
            .min()
            .map_or(-1, |deadline| {
                let wait = deadline.saturating_duration_since(now);
                // Round up so the deadline has passed on wake-up.
                wait.as_millis().min(60_000) as i32 + 1
            })
    }

    fn mark_dirty(dirty: &mut Vec<u64>, id: u64, conn: &mut Conn) {
        if !conn.dirty {
            conn.dirty = true;
            dirty.push(id);
        }
    }

    fn on_ready(&mut self, id: u64, flags: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if flags & sys::WRITABLE != 0 {
            conn.writable = true;
            Self::mark_dirty(&mut self.dirty, id, conn);
        }
        if flags & (sys::READABLE | sys::FAILED) != 0 {
            self.read_input(id);
        }
    }

    /// Reads what the client sent until the socket is empty: answers pings and closes.
    fn read_input(&mut self, id: u64) {
        let grace = self.config.close_grace;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match conn.read_all(grace) {
            Some(reason) => self.finish(id, reason),
            None => Self::mark_dirty(&mut self.dirty, id, conn),
        }
    }

    fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut *lock(&self.shared.inbox));
        for command in commands {
            match command {
                Command::Add { id, fd, live, sent } => self.add(id, fd, live, sent),
                Command::Send {
                    id,
                    messages,
                    notify_drained,
                } => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        if conn.state == State::Open {
                            for message in messages {
                                conn.push(message);
                            }
                            conn.notify_drained |= notify_drained;
                            // At once, as a broadcast is: a later broadcast in this turn
                            // judges the queue by what the socket could not take.
                            self.write(id);
                        }
                    }
                }
                Command::GoLive(id) => {
                    if let Some(conn) = self.conns.get_mut(&id) {
                        conn.live = conn.state == State::Open;
                    }
                }
                Command::Broadcast { messages, tag } => self.broadcast(messages, tag),
                Command::Cut(id) => self.cut(id),
                Command::Close { id, code, reason } => {
                    let grace = self.config.close_grace;
                    if let Some(conn) = self.conns.get_mut(&id) {
                        let close = wsframe::close_message(code, &reason).into();
                        conn.begin_close(vec![close], CloseReason::Closed, grace);
                        Self::mark_dirty(&mut self.dirty, id, conn);
                    }
                }
                Command::Shutdown => self.shutdown(),
            }
        }
    }

    fn add(&mut self, id: u64, fd: OwnedFd, live: bool, sent: Arc<AtomicU64>) {
        if self.stopping || self.epoll.add(fd.as_raw_fd(), id).is_err() {
            drop(fd);
            lock(&self.shared.sent).remove(&id);
            self.events.push(Event::Closed(id, CloseReason::Error));
            return;
        }
        self.shared
            .counters
            .connections
            .fetch_add(1, Ordering::Relaxed);
        self.conns.insert(
            id,
            Conn {
                fd,
                queue: VecDeque::new(),
                offset: 0,
                queued_bytes: 0,
                live,
                // Edge-triggered: a connected socket reports writable once registered.
                writable: true,
                dirty: false,
                notify_drained: false,
                state: State::Open,
                reason: CloseReason::Closed,
                deadline: None,
                progress: Instant::now(),
                reader: wsframe::Reader::default(),
                sent,
            },
        );
    }

    fn broadcast(&mut self, messages: Vec<Message>, tag: u64) {
        let mut written = (0u64, 0u64);
        let mut failed = Vec::new();
        for (&id, conn) in &mut self.conns {
            if !conn.live {
                continue;
            }
            // Judged at the batch boundary, before any of this batch is queued to it: it has
            // then been given exactly the broadcasts before `tag`'s.
            if conn.over_live_bound(&self.config) {
                conn.live = false;
                self.events.push(Event::Lagging(id, tag));
                continue;
            }
            for message in &messages {
                conn.push(Arc::clone(message));
            }
            match conn.flush() {
                Ok((m, b)) => {
                    written.0 += m;
                    written.1 += b;
                }
                Err(_) => {
                    failed.push(id);
                    continue;
                }
            }
            if !conn.queue.is_empty() && conn.writable {
                Self::mark_dirty(&mut self.dirty, id, conn);
            }
        }
        self.count(written);
        for id in failed {
            self.finish(id, CloseReason::Error);
        }
    }

    fn cut(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        // A closing connection's queue ends with its close frame: it must not be dropped.
        if conn.state != State::Open {
            return;
        }
        conn.truncate_to_boundary();
        let frames = vec![
            Arc::clone(&self.config.too_slow_message),
            wsframe::close_message(CLOSE_POLICY, "ConsumerTooSlow").into(),
        ];
        conn.begin_close(frames, CloseReason::TooSlow, self.config.close_grace);
        Self::mark_dirty(&mut self.dirty, id, conn);
    }

    fn count(&self, (messages, bytes): (u64, u64)) {
        let counters = &self.shared.counters;
        counters.messages.fetch_add(messages, Ordering::Relaxed);
        counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn flush_dirty(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            self.write(id);
        }
    }

    /// Writes what is queued for `id` as far as its socket takes it; once the queue is empty,
    /// reports it drained (if asked) or half-closes it (if closing).
    fn write(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.dirty = false;
        match conn.flush() {
            Ok(written) => self.count(written),
            Err(_) => {
                let reason = if conn.state == State::Open {
                    CloseReason::Error
                } else {
                    conn.reason
                };
                self.finish(id, reason);
                return;
            }
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.queue.is_empty() {
            if conn.notify_drained && conn.state == State::Open {
                conn.notify_drained = false;
                self.events.push(Event::Drained(id));
            }
            if conn.state == State::Closing {
                sys::shutdown_write(conn.fd.as_raw_fd());
                conn.state = State::Draining;
                let linger = Instant::now() + LINGER;
                conn.deadline = Some(conn.deadline.map_or(linger, |d| d.min(linger)));
                // The client may have closed its side already.
                self.read_input(id);
            }
        }
    }

    /// Closes connections whose grace (closing) or linger (draining) has passed.
    /// When an open connection with messages queued is cut for taking none of them.
    fn stall_deadline(&self, conn: &Conn) -> Option<Instant> {
        (conn.state == State::Open && !conn.queue.is_empty())
            .then(|| conn.progress + self.config.stall_timeout)
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<(u64, CloseReason)> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.deadline.is_some_and(|d| d <= now))
            .map(|(&id, conn)| (id, conn.reason))
            .collect();
        for (id, reason) in expired {
            self.finish(id, reason);
        }
        let stalled: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, conn)| self.stall_deadline(conn).is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in stalled {
            self.events.push(Event::Stalled(id));
            self.cut(id);
        }
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        let grace = self.config.close_grace;
        for (&id, conn) in &mut self.conns {
            let close = wsframe::close_message(CLOSE_GOING_AWAY, "").into();
            conn.begin_close(vec![close], CloseReason::Shutdown, grace);
            Self::mark_dirty(&mut self.dirty, id, conn);
        }
        self.flush_dirty();
    }

    /// Closes the socket (closing removes it from the epoll set) and reports it.
    fn finish(&mut self, id: u64, reason: CloseReason) {
        if self.conns.remove(&id).is_some() {
            lock(&self.shared.sent).remove(&id);
            self.shared
                .counters
                .connections
                .fetch_sub(1, Ordering::Relaxed);
            self.events.push(Event::Closed(id, reason));
        }
    }

    /// Stores what is queued over every connection, for [`Writer::stats`].
    fn store_backlog(&self) {
        let (messages, bytes) = self.conns.values().fold((0, 0), |(messages, bytes), conn| {
            (messages + conn.queue.len(), bytes + conn.queued_bytes)
        });
        let counters = &self.shared.counters;
        counters
            .queued_messages
            .store(messages as u64, Ordering::Relaxed);
        counters.queued_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    fn publish(&mut self) {
        if !self.events.is_empty() {
            lock(&self.shared.events).append(&mut self.events);
            self.shared.notify.signal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::OwnedFd;

    fn config(live_frames: usize) -> Config {
        Config {
            live_backlog_frames: live_frames,
            live_backlog_bytes: usize::MAX,
            stall_timeout: Duration::from_secs(60),
            close_grace: Duration::from_secs(5),
            too_slow_message: binary_message(b"too slow"),
        }
    }

    /// A connected pair: the server side's fd and the client's stream.
    fn pair(listener: &TcpListener) -> (OwnedFd, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (OwnedFd::from(server), client)
    }

    fn wait_event(writer: &Writer, wanted: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            seen.extend(writer.take_events());
            if seen.iter().any(&wanted) {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no such event among {seen:?}");
    }

    fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        stream.read_exact(&mut out).unwrap();
        out
    }

    #[test]
    fn broadcasts_the_same_bytes_in_order_to_every_live_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(10_000)).unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            let (fd, client) = pair(&listener);
            writer.add(fd, true).unwrap();
            clients.push(client);
        }
        let payloads: Vec<Vec<u8>> = (0..200u32)
            .map(|i| vec![(i % 251) as u8; 100 + i as usize * 37])
            .collect();
        let messages: Vec<Message> = payloads.iter().map(|p| binary_message(p)).collect();
        let expected: Vec<u8> = messages.iter().flat_map(|m| m.iter().copied()).collect();
        writer.broadcast(messages[..50].to_vec(), 0);
        writer.broadcast(messages[50..].to_vec(), 50);
        for client in &mut clients {
            assert_eq!(read_exact(client, expected.len()), expected);
        }
        // The writer counts a round's messages once its writes return, which may be just after
        // the clients have read the bytes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer.stats().messages < 600 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(writer.stats().messages, 600);
        assert_eq!(writer.stats().connections, 3);
    }

    #[test]
    fn a_slow_reader_gets_every_byte_through_partial_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100_000)).unwrap();
        let (fd, mut client) = pair(&listener);
        writer.add(fd, true).unwrap();
        // 40 MB: far more than the socket buffers hold, so most writes are partial.
        let messages: Vec<Message> = (0..4000u32)
            .map(|i| binary_message(&vec![(i % 256) as u8; 10_000]))
            .collect();
        let expected: Vec<u8> = messages.iter().flat_map(|m| m.iter().copied()).collect();
        writer.broadcast(messages, 0);
        let mut received = Vec::new();
        let mut chunk = [0u8; 7_001];
        while received.len() < expected.len() {
            let n = client.read(&mut chunk).unwrap();
            received.extend_from_slice(&chunk[..n]);
        }
        assert!(received == expected);
    }

    #[test]
    fn replay_then_live_and_drained() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(10)).unwrap();
        let (fd, mut client) = pair(&listener);
        let id = writer.add(fd, false).unwrap();
        writer.broadcast(vec![binary_message(b"not yet live")], 0);
        // Replay is under the caller's flow control: the live bound does not apply to it.
        let replay: Vec<Message> = (0..50u8).map(|i| binary_message(&[i])).collect();
        writer.send(id, replay.clone(), true);
        writer.go_live(id);
        writer.broadcast(vec![binary_message(b"live")], 1);
        let mut expected: Vec<u8> = replay.iter().flat_map(|m| m.iter().copied()).collect();
        expected.extend_from_slice(&binary_message(b"live"));
        assert_eq!(read_exact(&mut client, expected.len()), expected);
        wait_event(&writer, |e| *e == Event::Drained(id));
    }

    /// Broadcasts batches of `batch` copies of `message`, tagged with the messages broadcast
    /// before each, until `id` is demoted; the tag it was demoted at.
    fn broadcast_until_lagging(writer: &Writer, id: u64, message: &Message, batch: u64) -> u64 {
        let mut tag = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for event in writer.take_events() {
                if let Event::Lagging(lagging, at) = event {
                    assert_eq!(lagging, id);
                    return at;
                }
            }
            assert!(Instant::now() < deadline, "never demoted");
            writer.broadcast(vec![Arc::clone(message); batch as usize], tag);
            tag += batch;
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A writer with a live bound of 100 messages and one live client that reads nothing,
    /// demoted by broadcasts of 10 messages of 100 kB: (writer, client, its id, the message,
    /// the tag it was demoted at).
    fn demoted_client() -> (Writer, TcpStream, u64, Message, u64) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, client) = pair(&listener);
        let id = writer.add(fd, true).unwrap();
        let big = binary_message(&vec![1u8; 100_000]);
        let demoted_at = broadcast_until_lagging(&writer, id, &big, 10);
        (writer, client, id, big, demoted_at)
    }

    #[test]
    fn a_live_connection_that_does_not_read_is_demoted_at_a_batch_boundary() {
        let (writer, mut client, id, big, demoted_at) = demoted_client();
        // Its queue was judged before the batch it was demoted at: the bound, one batch more.
        let queued = writer.stats().queued_messages;
        assert!((101..=110).contains(&queued), "{queued} queued");
        for _ in 0..20 {
            writer.broadcast(vec![Arc::clone(&big); 10], 0);
        }
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        writer.shutdown();
        // Every broadcast before the tag, none after it, then the shutdown's close.
        let received = reader.join().unwrap();
        let close = wsframe::close_message(CLOSE_GOING_AWAY, "");
        assert!(received.ends_with(&close));
        assert_eq!(
            received.len() - close.len(),
            demoted_at as usize * big.len()
        );
        assert!(writer
            .take_events()
            .contains(&Event::Closed(id, CloseReason::Shutdown)));
    }

    #[test]
    fn a_cut_drops_what_is_not_begun_and_sends_the_error_frame_and_a_close() {
        let (writer, mut client, id, big, _) = demoted_client();
        // What the caller's replay queued to it goes too.
        writer.send(id, vec![Arc::clone(&big); 50], true);
        writer.cut(id);
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
        let too_slow = binary_message(b"too slow");
        let close = wsframe::close_message(CLOSE_POLICY, "ConsumerTooSlow");
        let mut tail = too_slow.to_vec();
        tail.extend_from_slice(&close);
        assert!(received.ends_with(&tail));
        // Whole messages before the tail: a cut happens at a message boundary.
        assert_eq!((received.len() - tail.len()) % big.len(), 0);
        let events = wait_event(&writer, |e| matches!(e, Event::Closed(i, _) if *i == id));
        assert!(events.contains(&Event::Closed(id, CloseReason::TooSlow)));
        assert!(!events.contains(&Event::Drained(id)));
        assert_eq!(writer.stats().connections, 0);
    }

    #[test]
    fn a_connection_whose_socket_takes_nothing_for_the_stall_timeout_is_cut() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(Config {
            stall_timeout: Duration::from_millis(300),
            close_grace: Duration::from_millis(300),
            ..config(usize::MAX)
        })
        .unwrap();
        let (fd, _stalled) = pair(&listener);
        let stalled = writer.add(fd, false).unwrap();
        let (fd, mut slow) = pair(&listener);
        let slow_id = writer.add(fd, false).unwrap();
        // More than the sockets' buffers hold: frames wait for both.
        let big = binary_message(&vec![7u8; 1 << 20]);
        writer.send(stalled, vec![Arc::clone(&big); 16], false);
        writer.send(slow_id, vec![Arc::clone(&big); 16], true);
        let reader = std::thread::spawn(move || {
            // Slower than the timeout in all, but never idle for as long as it.
            let mut buf = vec![0u8; 1 << 18];
            let mut total = 0;
            while total < 16 * big.len() {
                std::thread::sleep(Duration::from_millis(20));
                total += slow.read(&mut buf).unwrap();
            }
            slow
        });
        let events = wait_event(&writer, |e| {
            *e == Event::Closed(stalled, CloseReason::TooSlow)
        });
        assert_eq!(
            events
                .iter()
                .filter(|e| **e == Event::Stalled(stalled))
                .count(),
            1
        );
        let _slow = reader.join().unwrap();
        let events = wait_event(&writer, |e| *e == Event::Drained(slow_id));
        assert!(!events.contains(&Event::Stalled(slow_id)));
        assert_eq!(writer.stats().connections, 1);
    }

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        out.extend_from_slice(payload);
        out
    }

    fn socket_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` outlive the call; the kernel writes at most `len` bytes.
        let got = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(got, 0);
        value
    }

    #[test]
    fn every_connection_gets_tcp_keepalive() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, _client) = pair(&listener);
        let same_socket = fd.try_clone().unwrap();
        writer.add(fd, true).unwrap();
        let options = [
            socket_option(&same_socket, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            socket_option(&same_socket, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            socket_option(&same_socket, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            socket_option(&same_socket, libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        ];
        assert_eq!(options, [1, 30, 10, 3]);
    }

    #[test]
    fn a_ping_flood_keeps_one_pong_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, mut client) = pair(&listener);
        writer.add(fd, true).unwrap();
        // A small receive buffer (no autotuning): 25 MB of pongs, one per ping, would be far
        // more than the socket buffers hold while the client reads nothing.
        let small: libc::c_int = 4096;
        // SAFETY: `small` is a c_int that outlives the call.
        let set = unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&small as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0);
        let total = 200_000usize;
        let mut pings = Vec::with_capacity(total * 131);
        for i in 0..total {
            pings.extend(masked(wsframe::OP_PING, &[(i % 251) as u8; 125]));
        }
        client.write_all(&pings).unwrap();
        // While the writer reads the flood (and after), at most one pong waits besides one
        // begun: each ping answers for the ones before it.
        for _ in 0..200 {
            std::thread::sleep(Duration::from_millis(5));
            let queued = writer.stats().queued_messages;
            assert!(queued <= 2, "{queued} messages queued");
        }
        client
            .write_all(&masked(wsframe::OP_CLOSE, &[0x03, 0xE8]))
            .unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
        let pong_len = wsframe::message(wsframe::OP_PONG, &[0; 125]).len();
        let close = wsframe::close_message(1000, "");
        assert!(received.ends_with(&close));
        let pongs = (received.len() - close.len()) / pong_len;
        assert_eq!(pongs * pong_len + close.len(), received.len());
        assert!(
            0 < pongs && pongs < total,
            "{pongs} pongs for {total} pings"
        );
    }

    #[test]
    fn answers_ping_and_echoes_a_client_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, mut client) = pair(&listener);
        let id = writer.add(fd, true).unwrap();
        let data = binary_message(b"data");
        writer.broadcast(vec![data.clone()], 0);
        assert_eq!(read_exact(&mut client, data.len()), data.to_vec());
        client.write_all(&masked(wsframe::OP_PING, b"p1")).unwrap();
        let pong = wsframe::message(wsframe::OP_PONG, b"p1");
        assert_eq!(read_exact(&mut client, pong.len()), pong);
        // Deliveries are data messages: the pong is not one.
        assert_eq!((writer.sent(id), writer.stats().messages), (Some(1), 1));
        client
            .write_all(&masked(wsframe::OP_CLOSE, &[0x03, 0xE8]))
            .unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, wsframe::close_message(1000, ""));
        drop(client);
        let events = wait_event(&writer, |e| matches!(e, Event::Closed(..)));
        assert!(events.contains(&Event::Closed(id, CloseReason::Client)));
        assert_eq!((writer.sent(id), writer.stats().messages), (None, 1));
    }

    #[test]
    fn a_client_that_goes_away_is_detached() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, client) = pair(&listener);
        let id = writer.add(fd, true).unwrap();
        drop(client);
        let events = wait_event(&writer, |e| matches!(e, Event::Closed(..)));
        assert!(events.contains(&Event::Closed(id, CloseReason::Client)));
        assert_eq!(writer.stats().connections, 0);
        writer.broadcast(vec![binary_message(b"after")], 0);
    }

    #[test]
    fn a_protocol_error_fails_the_connection_with_1002() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, mut client) = pair(&listener);
        let id = writer.add(fd, true).unwrap();
        client
            .write_all(&wsframe::message(wsframe::OP_PING, b"unmasked"))
            .unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert_eq!(
            rest,
            wsframe::close_message(CLOSE_PROTOCOL_ERROR, "protocol error")
        );
        drop(client);
        let events = wait_event(&writer, |e| matches!(e, Event::Closed(..)));
        assert!(events.contains(&Event::Closed(id, CloseReason::Error)));
    }

    #[test]
    fn shutdown_sends_queued_frames_then_going_away() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = Writer::start(config(100)).unwrap();
        let (fd, mut client) = pair(&listener);
        let id = writer.add(fd, true).unwrap();
        writer.broadcast(vec![binary_message(b"last")], 0);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        writer.shutdown();
        let mut expected = binary_message(b"last").to_vec();
        expected.extend_from_slice(&wsframe::close_message(CLOSE_GOING_AWAY, ""));
        assert_eq!(reader.join().unwrap(), expected);
        assert!(writer
            .take_events()
            .contains(&Event::Closed(id, CloseReason::Shutdown)));
    }
}

//! The media driver for one call: owns the RTP socket and the 20 ms clock, runs the
//! sans-IO [`RtpSession`], and gives the speech pipeline its API — 16 kHz frames in,
//! a playout queue out that can be flushed at once for barge-in, DTMF both ways — and
//! a stereo WAV recording (left: customer, right: bot).

use super::g711::G711;
use super::resample::{Downsampler, Upsampler};
use super::rtp::{
    Inbound, Playout, RtpSession, RtpStats, SourceFilter, SourceVerdict, FRAME, FRAME_SAMPLES,
};
use crate::time::{Millis, MonotonicClock};
use rtp_rs::RtpReader;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Sent more than this after its due time, a packet counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// `MediaHandle::last_received` before any packet arrived.
const NONE_RECEIVED: u64 = u64::MAX;

/// What a call's media needs to start.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// The negotiated codec.
    pub codec: G711,
    /// The peer's telephone-event payload type, if any.
    pub dtmf_pt: Option<u8>,
    /// Where the answer SDP says to send RTP: the only source media is accepted from, but
    /// for symmetric RTP's strict port relearning (see [`SourceFilter`]).
    pub remote: SocketAddr,
    /// Stereo WAV to record into.
    pub record: Option<PathBuf>,
    /// Our SSRC, first sequence number and timestamp (random per call).
    pub ssrc: u32,
    /// First sequence number.
    pub seq: u16,
    /// First timestamp.
    pub ts: u32,
}

/// What the media did, reported when it stops.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MediaReport {
    /// RTP counters.
    pub rtp: RtpStats,
    /// 20 ms ticks run.
    pub ticks: u64,
    /// Ticks whose packet left more than [`LATE_AFTER`] after its due time.
    pub late_ticks: u64,
    /// The worst lateness seen, in ms.
    pub max_late_ms: f64,
    /// DTMF keys received.
    pub dtmf_received: String,
    /// The address media was finally sent to (the SDP's, or a port of its IP relearned).
    pub remote: Option<SocketAddr>,
    /// Datagrams dropped because they came from another source than the one media is
    /// latched to (forged or stray traffic; the first packets of a port being relearned).
    pub rejected_packets: u64,
    /// Times media moved to another port of the peer's address (symmetric RTP).
    pub relearned: u64,
    /// Seconds of customer audio that carried sound (not digital silence).
    pub customer_audio_s: f64,
    /// Times the outbound playout ran dry mid-prompt: the queue could not fill a frame
    /// while its producer said more of the same prompt was coming
    /// ([`PlayoutQueue::set_more_coming`]). Each is a gap the customer hears; a load run
    /// must show none.
    pub playout_underruns: u64,
}

struct Queue {
    pcm: VecDeque<i16>,
    down: Downsampler,
    /// The producer has more of the current prompt to queue.
    more_coming: bool,
    /// The last frame taken was full.
    sounding: bool,
    underruns: u64,
}

/// Bot audio waiting to be sent, at 8 kHz. Cloneable; flushing drops everything queued
/// so the next tick already sends silence (barge-in within one frame).
#[derive(Clone)]
pub struct PlayoutQueue(Arc<Mutex<Queue>>);

impl PlayoutQueue {
    fn new() -> Self {
        PlayoutQueue(Arc::new(Mutex::new(Queue {
            pcm: VecDeque::new(),
            down: Downsampler::default(),
            more_coming: false,
            sounding: false,
            underruns: 0,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent: recover it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue 16 kHz speech (resampled to the line's 8 kHz here).
    pub fn push_16k(&self, pcm: &[i16]) {
        let mut q = self.lock();
        let mut out = Vec::with_capacity(pcm.len() / 2 + 1);
        q.down.process(pcm, &mut out);
        q.pcm.extend(out);
    }

    /// Queue 8 kHz audio as is.
    pub fn push_8k(&self, pcm: &[i16]) {
        self.lock().pcm.extend(pcm);
    }

    /// Drop everything queued (barge-in). The prompt is over: nothing more is coming.
    pub fn flush(&self) {
        let mut q = self.lock();
        q.pcm.clear();
        q.down = Downsampler::default();
        q.more_coming = false;
        q.sounding = false;
    }

    /// Tell the queue whether more audio of the prompt being played is on its way (a
    /// sentence still being synthesized), so running dry now is an underrun, not the
    /// prompt's end.
    pub fn set_more_coming(&self, yes: bool) {
        self.lock().more_coming = yes;
    }

    /// Underruns so far (see [`MediaReport::playout_underruns`]).
    pub fn underruns(&self) -> u64 {
        self.lock().underruns
    }

    /// Queued audio, in ms.
    pub fn queued_ms(&self) -> u64 {
        self.lock().pcm.len() as u64 / 8
    }

    fn take_frame(&self, out: &mut [i16; FRAME_SAMPLES]) {
        let mut q = self.lock();
        let n = q.pcm.len().min(out.len());
        for (dst, src) in out.iter_mut().zip(q.pcm.drain(..n)) {
            *dst = src;
        }
        out[n..].fill(0);
        if n < out.len() {
            // Counted once per dry spell, when the audio stops short.
            if q.sounding && q.more_coming {
                q.underruns += 1;
            }
            q.sounding = false;
        } else {
            q.sounding = true;
        }
    }
}

enum Control {
    Dtmf(String),
    Remote(SocketAddr),
    Sink(Sink),
    Stop(tokio::sync::oneshot::Sender<MediaReport>),
}

/// The most audio a relay keeps queued on the other leg's playout. A frame that finds
/// more there is dropped: what the bot queued before a bridge (the rest of its "please
/// hold") plays to its end, then the relayed voice starts, never lagging behind it.
/// Two legs tick every 20 ms at phases up to 20 ms apart, so a running relay keeps
/// 0-40 ms queued and drops nothing.
pub const RELAY_AHEAD_MS: u64 = 60;

/// Where a stream sends the audio it receives from its peer.
#[derive(Clone, Default)]
pub enum Sink {
    /// The handle's `inbound` channel (16 kHz frames for whoever took it: the bot).
    #[default]
    Inbound,
    /// Nowhere: whoever held the inbound stands aside (it hears nothing, so it does no
    /// work) while its call is being bridged.
    Nowhere,
    /// Straight onto another call's playout, at 8 kHz, from the media worker: the
    /// relay of a bridge, with no task or resampling in between.
    Relay(PlayoutQueue),
}

/// The pipeline's side of a running call's media.
pub struct MediaHandle {
    /// The customer's audio: 20 ms frames of 16 kHz PCM (320 samples).
    pub inbound: mpsc::Receiver<Vec<i16>>,
    /// DTMF keys the customer pressed.
    pub dtmf: mpsc::UnboundedReceiver<char>,
    /// The bot's audio out.
    pub playout: PlayoutQueue,
    ctl: std::sync::mpsc::Sender<Control>,
    last_received: Arc<AtomicU64>,
}

impl MediaHandle {
    /// Take the inbound frame stream (e.g. to relay it to another leg); later frames go
    /// to the taker, and `inbound` is left closed.
    pub fn take_inbound(&mut self) -> mpsc::Receiver<Vec<i16>> {
        let (_tx, closed) = mpsc::channel(1);
        std::mem::replace(&mut self.inbound, closed)
    }

    /// Send DTMF keys (RFC 4733) to the peer.
    pub fn send_dtmf(&self, digits: &str) {
        let _ = self.ctl.send(Control::Dtmf(digits.to_string()));
    }

    /// Point media at a new address (a re-INVITE or the 200 after early media moved it).
    pub fn set_remote(&self, addr: SocketAddr) {
        let _ = self.ctl.send(Control::Remote(addr));
    }

    /// Send what this stream receives to `sink` from its next tick on (a bridge relays
    /// it to the other leg; [`Sink::Inbound`] gives it back to `inbound`). The recording
    /// and the media report count it wherever it goes.
    pub fn route_received(&self, sink: Sink) {
        let _ = self.ctl.send(Control::Sink(sink));
    }

    /// When the peer's last RTP packet arrived (on the call's clock), for the call's
    /// media timeout; None before the first.
    pub fn last_received(&self) -> Option<Millis> {
        match self.last_received.load(Ordering::Relaxed) {
            NONE_RECEIVED => None,
            ms => Some(Millis(ms)),
        }
    }

    /// Stop the media and get its report (the recording is finalised first).
    pub async fn stop(self) -> MediaReport {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.ctl.send(Control::Stop(tx)).is_err() {
            return MediaReport::default();
        }
        rx.await.unwrap_or_default()
    }
}

/// One call's media on `socket` (already bound to the address in our SDP): the stream a
/// media worker will drive, and the handle the call keeps. No stream when the socket is
/// unusable; the handle then reports empty media. `clock` maps the worker's ticks to the
/// RTP session's time.
pub(crate) fn open(
    socket: UdpSocket,
    cfg: MediaConfig,
    clock: MonotonicClock,
) -> (Option<Stream>, MediaHandle) {
    let (in_tx, in_rx) = mpsc::channel(50);
    let (dtmf_tx, dtmf_rx) = mpsc::unbounded_channel();
    let (ctl_tx, ctl_rx) = std::sync::mpsc::channel();
    let playout = PlayoutQueue::new();
    let last_received = Arc::new(AtomicU64::new(NONE_RECEIVED));
    let stream = match socket.into_std() {
        Ok(sock) => Some(Stream::new(
            sock,
            cfg,
            playout.clone(),
            (in_tx, last_received.clone()),
            dtmf_tx,
            ctl_rx,
            clock,
        )),
        Err(e) => {
            tracing::warn!(error = %e, "RTP socket unusable; the call has no media");
            None
        }
    };
    let handle = MediaHandle {
        inbound: in_rx,
        dtmf: dtmf_rx,
        playout,
        ctl: ctl_tx,
        last_received,
    };
    (stream, handle)
}

struct Recorder {
    w: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
}

impl Recorder {
    fn open(path: &PathBuf) -> Option<Recorder> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        match hound::WavWriter::create(path, spec) {
            Ok(w) => Some(Recorder { w }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot record the call");
                None
            }
        }
    }

    fn write(&mut self, customer: &[i16], bot: &[i16]) -> bool {
        for (c, b) in customer.iter().zip(bot) {
            if self.w.write_sample(*c).is_err() || self.w.write_sample(*b).is_err() {
                return false;
            }
        }
        true
    }
}

/// One call's media state, ticked by a media worker every 20 ms.
pub(crate) struct Stream {
    sock: std::net::UdpSocket,
    session: RtpSession,
    source: SourceFilter,
    rec: Option<Recorder>,
    up: Upsampler,
    report: MediaReport,
    clock: MonotonicClock,
    started: std::time::Instant,
    /// When this stream's next packet is due.
    next_tick: std::time::Instant,
    playout: PlayoutQueue,
    inbound: mpsc::Sender<Vec<i16>>,
    /// Shared with the handle: when the last accepted packet arrived (ms on the clock).
    last_received: Arc<AtomicU64>,
    sink: Sink,
    dtmf: mpsc::UnboundedSender<char>,
    ctl: std::sync::mpsc::Receiver<Control>,
    buf: Vec<u8>,
    bot: [i16; FRAME_SAMPLES],
    customer: [i16; FRAME_SAMPLES],
    last_frame: [i16; FRAME_SAMPLES],
    have_last: bool,
    lost_run: u32,
    wide: Vec<i16>,
}

/// What a worker does with a stream after servicing it.
pub(crate) enum Service {
    Keep,
    Done,
}

impl Stream {
    fn new(
        sock: std::net::UdpSocket,
        cfg: MediaConfig,
        playout: PlayoutQueue,
        (inbound, last_received): (mpsc::Sender<Vec<i16>>, Arc<AtomicU64>),
        dtmf: mpsc::UnboundedSender<char>,
        ctl: std::sync::mpsc::Receiver<Control>,
        clock: MonotonicClock,
    ) -> Stream {
        let now = std::time::Instant::now();
        Stream {
            sock,
            session: RtpSession::new(cfg.codec, cfg.dtmf_pt, cfg.ssrc, cfg.seq, cfg.ts),
            source: SourceFilter::new(cfg.remote),
            rec: cfg.record.as_ref().and_then(Recorder::open),
            up: Upsampler::default(),
            report: MediaReport::default(),
            clock,
            started: now,
            next_tick: now,
            playout,
            inbound,
            last_received,
            sink: Sink::Inbound,
            dtmf,
            ctl,
            buf: vec![0u8; 2048],
            bot: [0; FRAME_SAMPLES],
            customer: [0; FRAME_SAMPLES],
            last_frame: [0; FRAME_SAMPLES],
            have_last: false,
            lost_run: 0,
            wide: Vec::with_capacity(FRAME_SAMPLES * 2),
        }
    }

    /// Spread the first tick so that streams started together do not all tick at once.
    pub(crate) fn set_phase(&mut self, offset: Duration) {
        self.next_tick = self.started + offset;
    }

    pub(crate) fn next_tick(&self) -> std::time::Instant {
        self.next_tick
    }

    /// Apply commands, read what arrived, and send this tick's packet when it is due.
    pub(crate) fn service(&mut self, now: std::time::Instant) -> Service {
        loop {
            match self.ctl.try_recv() {
                Ok(Control::Dtmf(d)) => {
                    self.session.send_dtmf(&d);
                }
                Ok(Control::Remote(a)) => self.source.reset(a),
                Ok(Control::Sink(k)) => self.sink = k,
                Ok(Control::Stop(reply)) => {
                    let _ = reply.send(self.finish());
                    return Service::Done;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.finish();
                    return Service::Done;
                }
            }
        }
        if now < self.next_tick {
            return Service::Keep;
        }
        self.receive(now);
        self.tick(now);
        self.next_tick += FRAME;
        // After a long stall (suspended process), do not burst to catch up.
        if now > self.next_tick + FRAME * 10 {
            self.next_tick = now + FRAME;
        }
        Service::Keep
    }

    fn receive(&mut self, now: std::time::Instant) {
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // ICMP errors surface here on Linux; they do not end the call.
                Err(_) => return,
            };
            let at = self.clock.at(now);
            let datagram = &self.buf[..n];
            // Judge the source before the session sees anything: a forged packet must
            // not reach the jitter buffer, the DTMF detector or the send address.
            let previous = self.source.remote();
            let verdict = match RtpReader::new(datagram) {
                Ok(r) => self
                    .source
                    .check(from, r.ssrc(), u16::from(r.sequence_number()), at),
                Err(_) => self.source.check_garbage(from),
            };
            match verdict {
                SourceVerdict::Drop => {
                    if self.source.rejected() == 1 {
                        tracing::warn!(expected = %previous, %from, "RTP from another source dropped (counted in the media report)");
                    }
                    continue;
                }
                SourceVerdict::Relearn => {
                    tracing::info!(from = %previous, to = %from, "RTP source moved to another port of the peer's address");
                }
                SourceVerdict::Accept => {}
            }
            let inbound = self.session.on_datagram(datagram, at);
            if !matches!(inbound, Inbound::Invalid(_)) {
                self.last_received.store(at.0, Ordering::Relaxed);
            }
            match inbound {
                Inbound::Invalid(why) => {
                    tracing::trace!(%from, why, "RTP datagram dropped");
                }
                Inbound::Dtmf(c) => {
                    self.report.dtmf_received.push(c);
                    let _ = self.dtmf.send(c);
                }
                _ => {}
            }
        }
    }

    fn tick(&mut self, now: std::time::Instant) {
        let late = now.saturating_duration_since(self.next_tick);
        self.report.ticks += 1;
        if late > LATE_AFTER {
            self.report.late_ticks += 1;
        }
        self.report.max_late_ms = self.report.max_late_ms.max(late.as_secs_f64() * 1000.0);
        self.playout.take_frame(&mut self.bot);
        let pkt = self.session.tick_out(&self.bot);
        if let Err(e) = self.sock.send_to(&pkt, self.source.remote()) {
            tracing::trace!(error = %e, "RTP send failed");
        }
        match self.session.pop_frame() {
            Playout::Frame(f) => {
                self.lost_run = 0;
                self.customer.copy_from_slice(&f[..FRAME_SAMPLES]);
                self.last_frame.copy_from_slice(&self.customer);
                self.have_last = true;
            }
            // Conceal: repeat the last frame once at half level, then silence.
            Playout::Lost => {
                self.lost_run += 1;
                if self.have_last && self.lost_run == 1 {
                    for (c, s) in self.customer.iter_mut().zip(&self.last_frame) {
                        *c = s / 2;
                    }
                } else {
                    self.customer.fill(0);
                }
            }
            Playout::Silence => self.customer.fill(0),
        }
        if self.customer.iter().any(|&s| s.unsigned_abs() > 64) {
            self.report.customer_audio_s += 0.02;
        }
        if let Some(r) = self.rec.as_mut() {
            if !r.write(&self.customer, &self.bot) {
                tracing::warn!("recording write failed; recording stopped");
                self.rec = None;
            }
        }
        match &self.sink {
            Sink::Inbound => {
                self.wide.clear();
                self.up.process(&self.customer, &mut self.wide);
                // A pipeline that falls behind loses frames, never stalls the line.
                let _ = self.inbound.try_send(self.wide.clone());
            }
            Sink::Nowhere => {}
            Sink::Relay(peer) => {
                if peer.queued_ms() <= RELAY_AHEAD_MS {
                    peer.push_8k(&self.customer);
                }
            }
        }
    }

    fn finish(&mut self) -> MediaReport {
        if let Some(r) = self.rec.take() {
            if let Err(e) = r.w.finalize() {
                tracing::warn!(error = %e, "recording could not be finalised");
            }
        }
        let mut report = std::mem::take(&mut self.report);
        report.rtp = self.session.stats();
        report.remote = Some(self.source.remote());
        report.rejected_packets = self.source.rejected();
        report.relearned = self.source.relearned();
        report.playout_underruns = self.playout.underruns();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(q: &PlayoutQueue) {
        let mut f = [0i16; FRAME_SAMPLES];
        q.take_frame(&mut f);
    }

    #[test]
    fn running_dry_mid_prompt_is_an_underrun_and_the_prompts_end_is_not() {
        let q = PlayoutQueue::new();
        // First sentence queued, the second still being synthesized.
        q.push_8k(&[1000; FRAME_SAMPLES * 2 + 40]);
        q.set_more_coming(true);
        take(&q);
        take(&q);
        assert_eq!(q.underruns(), 0);
        take(&q); // the tail: short of a frame while more is coming
        take(&q); // still dry: the same gap, not a second one
        assert_eq!(q.underruns(), 1);
        // The last sentence arrives; nothing more after it.
        q.push_8k(&[1000; FRAME_SAMPLES * 2]);
        q.set_more_coming(false);
        take(&q);
        take(&q);
        take(&q);
        assert_eq!(q.underruns(), 1, "the prompt's end is no underrun");
        // Nothing played yet while the first sentence is synthesized: no gap heard.
        q.set_more_coming(true);
        take(&q);
        assert_eq!(q.underruns(), 1);
    }

    #[test]
    fn a_barge_in_flush_is_not_an_underrun() {
        let q = PlayoutQueue::new();
        q.push_8k(&[1000; FRAME_SAMPLES * 4]);
        q.set_more_coming(true);
        take(&q);
        q.flush();
        take(&q);
        assert_eq!(q.underruns(), 0);
    }
}

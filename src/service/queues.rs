//! The built-in human queues inside `voxdial run`: one SIP user agent answers the
//! agents' REGISTERs (one registrar for every built-in queue's agents) and the INVITEs
//! to `sip:<queue>@<voxdial>`, so the bot's REFER (or a phone's) lands in the queue and
//! voxdial stays in the media path. Every finished hand-off comes back as a
//! [`HandoffRecord`], for the driver to write into its call's record.

use super::config::Loaded;
use super::run::ServiceError;
use crate::media::worker::MediaRuntime;
use crate::queue::{HandoffRecord, QueueHandle, ServeOptions};
use crate::sip::registrar::{serve_registrar, Registrar, RegistrarConfig};
use crate::sip::ua::{InboundRoutes, SipUa};
use crate::sip::uas::IncomingCall;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The running built-in queues.
pub struct Queues {
    /// One handle per built-in queue, in config order (agent states, counters).
    pub handles: Vec<QueueHandle>,
    /// Every queue's finished hand-offs, merged.
    pub records: mpsc::UnboundedReceiver<HandoffRecord>,
}

/// Bind voxdial's SIP user agent on `sip.listen` and start the config's built-in queues
/// on it (none: a plain user agent, and INVITEs to it are refused 404). `root` is where
/// the default hold tune (`voices/hold/hold.wav`) is found.
pub async fn bind(
    cfg: &Loaded,
    media: MediaRuntime,
    root: &Path,
) -> Result<(Arc<SipUa>, Queues), ServiceError> {
    let listen = cfg.config.sip.listen;
    let (inv_tx, mut inv_rx) = mpsc::unbounded_channel();
    let (reg_tx, reg_rx) = mpsc::unbounded_channel();
    let ua = Arc::new(
        SipUa::bind_with(
            listen,
            media,
            InboundRoutes {
                invite: Some(inv_tx),
                register: Some(reg_tx),
            },
        )
        .await
        .map_err(|source| ServiceError::Sip { listen, source })?,
    );
    let mut accounts = Vec::new();
    for q in &cfg.builtin_queues {
        for a in &q.agents {
            if !a.password.is_empty() && !accounts.iter().any(|(u, _)| u == &a.user) {
                accounts.push((a.user.clone(), a.password.clone()));
            }
        }
    }
    let registrar = Arc::new(Mutex::new(Registrar::new(
        RegistrarConfig::default(),
        accounts,
        // The nonce secret from the OS's randomness (RandomState is seeded from it).
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8),
    )));
    tokio::spawn(serve_registrar(reg_rx, registrar.clone()));
    let record_root = cfg.config.recordings.as_ref().map(|p| cfg.path(p));
    let (all_tx, records) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for q in &cfg.builtin_queues {
        let mut q = q.clone();
        let written = cfg
            .config
            .queues
            .iter()
            .find(|x| x.name == q.name)
            .and_then(|x| x.hold_audio.as_ref());
        q.hold_audio = match written {
            Some(p) => cfg.path(p),
            None => root.join(&q.hold_audio),
        };
        let record_dir = record_root.as_ref().map(|d| d.join("queues"));
        if let Some(d) = &record_dir {
            std::fs::create_dir_all(d).map_err(|source| ServiceError::Recordings {
                path: d.clone(),
                source,
            })?;
        }
        let (handle, mut rx) = crate::queue::start(
            ua.clone(),
            &q,
            Some(registrar.clone()),
            ServeOptions {
                record_dir,
                sorry_audio: None,
            },
        )?;
        let tx = all_tx.clone();
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                if tx.send(r).is_err() {
                    break;
                }
            }
        });
        handles.push(handle);
    }
    let (ua2, routes) = (ua.clone(), handles.clone());
    tokio::spawn(async move {
        while let Some(t) = inv_rx.recv().await {
            match IncomingCall::new(&ua2, t) {
                Ok(call) => match routes.iter().find(|q| q.name() == call.dialled_user()) {
                    Some(q) => q.take(call),
                    None => call.reject(404),
                },
                Err(e) => tracing::debug!(error = %e, "an INVITE that cannot be answered"),
            }
        }
    });
    Ok((ua, Queues { handles, records }))
}

//! The registrar: human agents' phones REGISTER here (digest auth, RFC 7616/2617 with MD5
//! and `qop=auth`), so the human queue knows where to ring each agent.
//!
//! [`Registrar`] is sans-IO: it takes the REGISTER's raw header values and a
//! [`Millis`] and returns the reply's code and headers; it never reads a clock. Nonces are
//! stateless (the issue time and a MAC keyed by a secret drawn from a seeded generator),
//! so a flood of unauthenticated REGISTERs costs no memory, and a nonce past its lifetime
//! is answered `stale=true` when the password was right. [`serve_registrar`] is the thin
//! tokio driver answering the transactions that [`super::ua::InboundRoutes::register`]
//! hands over.
//!
//! rsipstack ships `verify_digest`, but it parses `nc` as a decimal `u8` (RFC 2617's `nc` is
//! eight hex digits) and takes a typed header whose parse errors we would have to map
//! anyway; the digest itself is a few lines on the `md-5` crate, and our own bounded
//! parser answers every malformed header with a 400 that names it.

use crate::time::{Millis, MonotonicClock};
use md5::{Digest, Md5};
use rand::{RngCore, SeedableRng};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Longest header value we parse; anything longer is a 400.
const MAX_HEADER: usize = 4096;
/// Bindings kept per user (a desk phone and a softphone); the oldest goes first.
const MAX_CONTACTS_PER_USER: usize = 4;

/// How the registrar behaves: its realm and the limits it grants.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// The digest realm the challenge names (phones show it; it salts HA1).
    pub realm: String,
    /// Shortest registration granted; shorter requests are lengthened to it.
    pub min_expires_s: u32,
    /// Longest registration granted; longer requests are shortened to it.
    pub max_expires_s: u32,
    /// Granted when the REGISTER names no expiry.
    pub default_expires_s: u32,
    /// How long a nonce is accepted before the phone must take a fresh one (`stale=true`).
    pub nonce_lifetime_ms: u64,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "voxdial".into(),
            min_expires_s: 60,
            max_expires_s: 3600,
            default_expires_s: 600,
            nonce_lifetime_ms: 300_000,
        }
    }
}

/// A REGISTER as the registrar needs it: raw header values, parsed here.
#[derive(Clone, Debug, Default)]
pub struct RegisterRequest {
    /// The user part of the To URI (the address of record being registered).
    pub aor_user: String,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    /// Every `Contact` header value (each may list several contacts).
    pub contacts: Vec<String>,
    /// The `Expires` header's value, if any.
    pub expires: Option<String>,
}

/// The registrar's answer: a status code and the headers to add to the response.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterReply {
    /// The SIP status code (200, 400, 401, 403).
    pub code: u16,
    /// Headers by full name (`WWW-Authenticate`, `Contact`, `Warning`).
    pub headers: Vec<(String, String)>,
}

impl RegisterReply {
    fn with(code: u16, headers: Vec<(String, String)>) -> Self {
        RegisterReply { code, headers }
    }

    /// A 400 whose `Warning` names the header at fault, so a phone's log says what to fix.
    fn bad(why: String) -> Self {
        let why = why.replace('"', "'");
        Self::with(
            400,
            vec![("Warning".into(), format!("399 voxdial \"{why}\""))],
        )
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One registered contact of a user.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The phone's Contact URI, where the queue rings the agent.
    pub contact: String,
    /// When the registration lapses.
    pub expires_at: Millis,
    /// When it was (last) registered; the newest binding is the one rung.
    pub registered_at: Millis,
}

/// The sans-IO registrar: accounts, digest checks and bindings.
pub struct Registrar {
    config: RegistrarConfig,
    accounts: HashMap<String, String>,
    bindings: HashMap<String, Vec<Binding>>,
    secret: String,
    issued: u64,
}

impl std::fmt::Debug for Registrar {
    // Passwords and the nonce secret stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("realm", &self.config.realm)
            .field("accounts", &self.accounts.len())
            .field("bindings", &self.bindings.len())
            .finish()
    }
}

impl Registrar {
    /// A registrar for these accounts (user → password); `seed` draws the nonce secret (the
    /// driver takes it from the OS, a test fixes it).
    pub fn new(
        config: RegistrarConfig,
        accounts: impl IntoIterator<Item = (String, String)>,
        seed: u64,
    ) -> Registrar {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut secret = String::new();
        for _ in 0..2 {
            let _ = write!(secret, "{:016x}", rng.next_u64());
        }
        Registrar {
            config,
            accounts: accounts.into_iter().collect(),
            bindings: HashMap::new(),
            secret,
            issued: 0,
        }
    }

    /// Answer one REGISTER received at `now`.
    pub fn handle(&mut self, req: &RegisterRequest, now: Millis) -> RegisterReply {
        let Some(auth) = req.authorization.as_deref() else {
            return self.challenge(now, false);
        };
        let creds = match parse_authorization(auth) {
            Ok(c) => c,
            Err(why) => return RegisterReply::bad(format!("Authorization header: {why}")),
        };
        if creds.realm != self.config.realm {
            return self.challenge(now, false);
        }
        let Some(issued_at) = self.nonce_issued_at(&creds.nonce) else {
            // Not one of ours (another registrar's, or forged): a fresh challenge.
            return self.challenge(now, false);
        };
        let password = match self.accounts.get(&creds.username) {
            Some(p) if creds.username == req.aor_user => p,
            // Unknown users get the same answer as a wrong password: no user enumeration.
            _ => return RegisterReply::with(403, vec![]),
        };
        if !digest_matches(&creds, password, "REGISTER") {
            return RegisterReply::with(403, vec![]);
        }
        if now.ms_since(issued_at) > self.config.nonce_lifetime_ms || issued_at > now {
            return self.challenge(now, true);
        }
        self.update_bindings(&creds.username, req, now)
    }

    /// The contact to ring for `user` at `now` (the newest unexpired binding).
    pub fn contact(&self, user: &str, now: Millis) -> Option<&str> {
        self.bindings
            .get(user)?
            .iter()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| b.registered_at)
            .map(|b| b.contact.as_str())
    }

    /// Every user with an unexpired binding, and its contact (for the agent console).
    pub fn registered(&self, now: Millis) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .bindings
            .keys()
            .filter_map(|u| Some((u.clone(), self.contact(u, now)?.to_string())))
            .collect();
        v.sort();
        v
    }

    /// Drop lapsed bindings; the users whose last binding lapsed (their phones are offline).
    pub fn expire(&mut self, now: Millis) -> Vec<String> {
        let mut gone = Vec::new();
        self.bindings.retain(|user, list| {
            list.retain(|b| b.expires_at > now);
            if list.is_empty() {
                gone.push(user.clone());
            }
            !list.is_empty()
        });
        gone.sort();
        gone
    }

    /// When the next binding lapses (the driver's next call to [`Registrar::expire`]).
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    fn challenge(&mut self, now: Millis, stale: bool) -> RegisterReply {
        self.issued += 1;
        let stamp = format!("{:012x}{:08x}", now.0, self.issued as u32);
        let nonce = format!("{stamp}{}", self.mac(&stamp));
        let mut v = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"",
            self.config.realm
        );
        if stale {
            v.push_str(", stale=true");
        }
        RegisterReply::with(401, vec![("WWW-Authenticate".into(), v)])
    }

    fn mac(&self, stamp: &str) -> String {
        md5_hex(&format!("{}:{stamp}", self.secret))
    }

    /// When one of our nonces was issued; None when it is not ours.
    fn nonce_issued_at(&self, nonce: &str) -> Option<Millis> {
        if nonce.len() != 52 || !nonce.is_ascii() {
            return None;
        }
        let (stamp, mac) = nonce.split_at(20);
        if self.mac(stamp) != mac {
            return None;
        }
        u64::from_str_radix(&stamp[..12], 16).ok().map(Millis)
    }

    fn update_bindings(&mut self, user: &str, req: &RegisterRequest, now: Millis) -> RegisterReply {
        let header_expires = match req.expires.as_deref().map(parse_delta) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(())) => {
                return RegisterReply::bad("Expires header: not a number of seconds".into())
            }
        };
        let mut contacts = Vec::new();
        for (i, value) in req.contacts.iter().enumerate() {
            match parse_contacts(value) {
                Ok(c) => contacts.extend(c),
                Err(why) => return RegisterReply::bad(format!("Contact header {}: {why}", i + 1)),
            }
        }
        if contacts.iter().any(|c| c.uri == "*") {
            // RFC 3261 10.3 step 6: `*` only alone, and only with Expires: 0.
            if contacts.len() != 1 || header_expires != Some(0) {
                return RegisterReply::bad("Contact: * needs to be alone with Expires: 0".into());
            }
            self.bindings.remove(user);
            return RegisterReply::with(200, vec![]);
        }
        let cfg = &self.config;
        let list = self.bindings.entry(user.to_string()).or_default();
        for c in contacts {
            let asked = c
                .expires
                .or(header_expires)
                .unwrap_or(cfg.default_expires_s);
            list.retain(|b| b.contact != c.uri);
            if asked == 0 {
                continue;
            }
            let granted = asked.clamp(cfg.min_expires_s, cfg.max_expires_s.max(cfg.min_expires_s));
            list.push(Binding {
                contact: c.uri,
                expires_at: now + std::time::Duration::from_secs(u64::from(granted)),
                registered_at: now,
            });
            if list.len() > MAX_CONTACTS_PER_USER {
                list.remove(0);
            }
        }
        list.retain(|b| b.expires_at > now);
        // The 200 lists every current binding with what is left of it (RFC 3261 10.3 step 8).
        let headers = list
            .iter()
            .map(|b| {
                let left = b.expires_at.ms_since(now) / 1000;
                (
                    "Contact".to_string(),
                    format!("<{}>;expires={left}", b.contact),
                )
            })
            .collect();
        if list.is_empty() {
            self.bindings.remove(user);
        }
        RegisterReply::with(200, headers)
    }
}

/// The parameters of a `Digest` Authorization header that the check needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DigestCredentials {
    /// Who claims to be registering.
    pub username: String,
    /// The realm the phone answered.
    pub realm: String,
    /// The nonce it answered.
    pub nonce: String,
    /// The digest-uri, exactly as sent (it is hashed as is).
    pub uri: String,
    /// The 32-hex-digit response.
    pub response: String,
    /// `auth` when the phone used RFC 2617's qop (then `cnonce` and `nc` are set).
    pub qop: Option<String>,
    /// The client nonce.
    pub cnonce: Option<String>,
    /// The nonce count, eight hex digits, exactly as sent.
    pub nc: Option<String>,
}

/// Parse a `Digest ...` credentials header (RFC 7616 §3.4); the error says what is wrong.
pub fn parse_authorization(value: &str) -> Result<DigestCredentials, String> {
    if value.len() > MAX_HEADER {
        return Err(format!("longer than {MAX_HEADER} bytes"));
    }
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(format!("scheme {scheme:?} is not Digest"));
    }
    let mut params: HashMap<String, String> = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("parameter {name:?} has no value"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some(e) => val.push(e),
                        None => break,
                    },
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(format!(
                    "parameter {name:?} has an unterminated quoted value"
                ));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_some_and(|c| *c != ',') {
            return Err(format!("parameter {name:?} is not followed by a comma"));
        }
        let key = name.to_ascii_lowercase();
        if key.is_empty() {
            return Err("a parameter has no name".into());
        }
        if params.insert(key, val).is_some() {
            return Err(format!("parameter {name:?} appears twice"));
        }
    }
    let mut take = |k: &str| params.remove(k);
    let need = |v: Option<String>, k: &str| v.ok_or_else(|| format!("no {k} parameter"));
    let mut c = DigestCredentials {
        username: need(take("username"), "username")?,
        realm: need(take("realm"), "realm")?,
        nonce: need(take("nonce"), "nonce")?,
        uri: need(take("uri"), "uri")?,
        response: need(take("response"), "response")?,
        qop: take("qop"),
        cnonce: take("cnonce"),
        nc: take("nc"),
    };
    if let Some(alg) = take("algorithm") {
        if !alg.eq_ignore_ascii_case("md5") {
            return Err(format!("algorithm {alg:?} is not supported (MD5 is)"));
        }
    }
    if c.response.len() != 32 || !c.response.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("response is not 32 hex digits".into());
    }
    c.response.make_ascii_lowercase();
    match c.qop.as_deref() {
        None => {}
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            if c.cnonce.is_none() {
                return Err("qop=auth without cnonce".into());
            }
            match c.nc.as_deref() {
                Some(nc) if nc.len() == 8 && nc.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                Some(_) => return Err("nc is not 8 hex digits".into()),
                None => return Err("qop=auth without nc".into()),
            }
        }
        Some(q) => return Err(format!("qop {q:?} is not supported (auth is)")),
    }
    Ok(c)
}

/// The digest `response` for these credentials and password (RFC 2617 §3.2.2.1).
pub fn digest_response(c: &DigestCredentials, password: &str, method: &str) -> String {
    let ha1 = md5_hex(&format!("{}:{}:{password}", c.username, c.realm));
    let ha2 = md5_hex(&format!("{method}:{}", c.uri));
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => md5_hex(&format!(
            "{ha1}:{}:{nc}:{cnonce}:{}:{ha2}",
            c.nonce,
            qop.to_ascii_lowercase()
        )),
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

fn digest_matches(c: &DigestCredentials, password: &str, method: &str) -> bool {
    let want = digest_response(c, password, method);
    // Constant-time over the fixed 32 bytes: the comparison leaks nothing of the digest.
    want.len() == c.response.len()
        && want
            .bytes()
            .zip(c.response.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in d.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A delta-seconds value (RFC 3261 25.1); larger than 2^32-1 reads as the largest.
fn parse_delta(s: &str) -> Result<u32, ()> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(s.parse::<u64>()
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        .unwrap_or(u32::MAX))
}

struct ContactSpec {
    uri: String,
    expires: Option<u32>,
}

/// Split a Contact header value into its contacts (commas inside `<>` or quotes do not
/// split) and read each one's URI and `expires` parameter.
fn parse_contacts(value: &str) -> Result<Vec<ContactSpec>, String> {
    if value.len() > MAX_HEADER {
        return Err(format!("longer than {MAX_HEADER} bytes"));
    }
    let mut parts = Vec::new();
    let (mut start, mut in_angle, mut in_quote, mut escaped) = (0, false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quote || in_angle {
        return Err("unbalanced quotes or angle brackets".into());
    }
    parts.push(&value[start..]);
    let mut out = Vec::new();
    for p in parts {
        let p = p.trim();
        if p == "*" {
            out.push(ContactSpec {
                uri: "*".into(),
                expires: None,
            });
            continue;
        }
        let (uri, params) = match (p.find('<'), p.rfind('>')) {
            (Some(a), Some(b)) if a < b => (&p[a + 1..b], &p[b + 1..]),
            (None, None) => p.split_once(';').unwrap_or((p, "")),
            _ => return Err(format!("cannot read contact {p:?}")),
        };
        super::ua::check_uri(uri).map_err(|e| format!("contact {uri:?}: {e}"))?;
        let mut expires = None;
        for param in params.split(';') {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("expires") {
                expires = Some(
                    parse_delta(v.trim_matches('"'))
                        .map_err(|()| format!("expires={v:?} is not a number of seconds"))?,
                );
            }
        }
        out.push(ContactSpec {
            uri: uri.to_string(),
            expires,
        });
    }
    Ok(out)
}

/// Answer the REGISTER transactions that [`super::ua::InboundRoutes::register`] hands
/// over with `registrar`, until the sender is dropped. Bindings are expired as they lapse.
pub async fn serve_registrar(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<rsipstack::transaction::transaction::Transaction>,
    registrar: Arc<Mutex<Registrar>>,
) {
    let clock = MonotonicClock::new();
    while let Some(mut tx) = rx.recv().await {
        let req = register_request(&tx.original);
        let now = clock.now();
        let reply = match registrar.lock() {
            Ok(mut r) => {
                for user in r.expire(now) {
                    tracing::info!(agent = %user, "agent registration lapsed");
                }
                r.handle(&req, now)
            }
            Err(_) => RegisterReply::with(500, vec![]),
        };
        if reply.code == 200 {
            tracing::info!(agent = %req.aor_user, bindings = reply.headers.len(), "agent registered");
        }
        let headers = reply
            .headers
            .into_iter()
            .map(|(n, v)| match n.as_str() {
                "WWW-Authenticate" => rsipstack::sip::Header::WwwAuthenticate(v.into()),
                "Contact" => rsipstack::sip::Header::Contact(v.into()),
                _ => rsipstack::sip::Header::Other(n, v),
            })
            .collect();
        let code = rsipstack::sip::StatusCode::from(reply.code);
        // Each reply on its own task: a slow send never holds up the next phone.
        tokio::spawn(async move {
            if let Err(e) = tx.reply_with(code, headers, None).await {
                tracing::debug!(error = %e, "REGISTER reply not sent");
            }
        });
    }
}

/// The raw header values of a REGISTER, for [`Registrar::handle`].
pub fn register_request(req: &rsipstack::sip::Request) -> RegisterRequest {
    use rsipstack::sip::prelude::ToTypedHeader;
    use rsipstack::sip::Header;
    let mut out = RegisterRequest::default();
    for h in req.headers.iter() {
        match h {
            Header::To(t) => {
                if let Ok(t) = t.typed() {
                    out.aor_user = t.uri.auth.map(|a| a.user).unwrap_or_default();
                }
            }
            Header::Authorization(a) if out.authorization.is_none() => {
                out.authorization = Some(a.value().to_string());
            }
            Header::Contact(c) => out.contacts.push(c.value().to_string()),
            Header::Expires(e) => out.expires = Some(e.value().to_string()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registrar() -> Registrar {
        Registrar::new(
            RegistrarConfig::default(),
            [("1001".to_string(), "s3cret".to_string())],
            7,
        )
    }

    fn nonce_of(reply: &RegisterReply) -> String {
        let v = reply.header("WWW-Authenticate").unwrap();
        let start = v.find("nonce=\"").unwrap() + 7;
        v[start..start + v[start..].find('"').unwrap()].to_string()
    }

    fn answer(nonce: &str, user: &str, password: &str) -> String {
        let mut c = DigestCredentials {
            username: user.into(),
            realm: "voxdial".into(),
            nonce: nonce.into(),
            uri: "sip:127.0.0.1:5060".into(),
            response: String::new(),
            qop: Some("auth".into()),
            cnonce: Some("0a4f113b".into()),
            nc: Some("00000001".into()),
        };
        c.response = digest_response(&c, password, "REGISTER");
        format!(
            "Digest username=\"{user}\", realm=\"voxdial\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1:5060\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
            c.response
        )
    }

    fn register(auth: Option<String>, contact: &str) -> RegisterRequest {
        RegisterRequest {
            aor_user: "1001".into(),
            authorization: auth,
            contacts: vec![contact.into()],
            expires: Some("120".into()),
        }
    }

    #[test]
    fn rfc_2617_worked_example() {
        // RFC 2617 §3.5: Mufasa, "Circle Of Life", GET /dir/index.html.
        let c = parse_authorization(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(
            digest_response(&c, "Circle Of Life", "GET"),
            "6629fae49393a05397450978507c4ef1"
        );
        assert!(digest_matches(&c, "Circle Of Life", "GET"));
        assert!(!digest_matches(&c, "circle of life", "GET"));
    }

    #[test]
    fn without_credentials_a_challenge_with_md5_and_qop_auth() {
        let mut r = registrar();
        let reply = r.handle(&register(None, "<sip:1001@127.0.0.1:5070>"), Millis(1_000));
        assert_eq!(reply.code, 401);
        let v = reply.header("WWW-Authenticate").unwrap();
        assert!(v.starts_with("Digest realm=\"voxdial\""), "{v}");
        assert!(
            v.contains("algorithm=MD5") && v.contains("qop=\"auth\""),
            "{v}"
        );
        assert!(!v.contains("stale"), "{v}");
        assert_eq!(r.contact("1001", Millis(1_000)), None);
    }

    #[test]
    fn right_password_binds_the_contact_until_it_expires() {
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(1_000)));
        let req = register(
            Some(answer(&nonce, "1001", "s3cret")),
            "<sip:1001@127.0.0.1:5070>",
        );
        let reply = r.handle(&req, Millis(2_000));
        assert_eq!(reply.code, 200, "{reply:?}");
        assert_eq!(
            reply.header("Contact"),
            Some("<sip:1001@127.0.0.1:5070>;expires=120")
        );
        assert_eq!(
            r.contact("1001", Millis(2_000)),
            Some("sip:1001@127.0.0.1:5070")
        );
        assert_eq!(r.poll_timeout(), Some(Millis(122_000)));
        assert_eq!(
            r.contact("1001", Millis(121_999)),
            Some("sip:1001@127.0.0.1:5070")
        );
        assert_eq!(r.contact("1001", Millis(122_000)), None);
        assert_eq!(r.expire(Millis(122_000)), vec!["1001".to_string()]);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn wrong_password_and_unknown_user_are_forbidden() {
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(1_000)));
        let wrong = register(Some(answer(&nonce, "1001", "guess")), "<sip:1001@h>");
        assert_eq!(r.handle(&wrong, Millis(1_100)).code, 403);
        let mut unknown = register(Some(answer(&nonce, "1002", "s3cret")), "<sip:1002@h>");
        unknown.aor_user = "1002".into();
        assert_eq!(r.handle(&unknown, Millis(1_100)).code, 403);
        // Registering someone else's address with one's own password is no better.
        let mut other = register(Some(answer(&nonce, "1001", "s3cret")), "<sip:1001@h>");
        other.aor_user = "1003".into();
        assert_eq!(r.handle(&other, Millis(1_100)).code, 403);
        assert_eq!(r.contact("1001", Millis(1_100)), None);
    }

    #[test]
    fn an_old_nonce_with_the_right_password_is_stale_and_a_forged_one_is_challenged() {
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(1_000)));
        let req = register(Some(answer(&nonce, "1001", "s3cret")), "<sip:1001@h>");
        let reply = r.handle(&req, Millis(1_000 + 300_001));
        assert_eq!(reply.code, 401);
        assert!(reply
            .header("WWW-Authenticate")
            .unwrap()
            .contains("stale=true"));
        // A fresh nonce then works.
        let fresh = nonce_of(&reply);
        let req = register(Some(answer(&fresh, "1001", "s3cret")), "<sip:1001@h>");
        assert_eq!(r.handle(&req, Millis(301_500)).code, 200);
        // A nonce we never issued: challenged again, never stale.
        let forged = format!("{}0", &nonce[..51]);
        let req = register(Some(answer(&forged, "1001", "s3cret")), "<sip:1001@h>");
        let reply = r.handle(&req, Millis(301_600));
        assert_eq!(reply.code, 401);
        assert!(!reply.header("WWW-Authenticate").unwrap().contains("stale"));
    }

    #[test]
    fn expires_is_clamped_and_zero_removes() {
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(0)));
        let auth = Some(answer(&nonce, "1001", "s3cret"));
        let mut req = register(auth.clone(), "<sip:1001@a>;expires=5");
        assert_eq!(
            r.handle(&req, Millis(0)).header("Contact"),
            Some("<sip:1001@a>;expires=60")
        );
        req.contacts = vec!["sip:1001@a;expires=999999".into()];
        assert_eq!(
            r.handle(&req, Millis(0)).header("Contact"),
            Some("<sip:1001@a>;expires=3600")
        );
        req.contacts = vec!["<sip:1001@b>".into()];
        req.expires = Some("0".into());
        r.handle(&req, Millis(10));
        assert_eq!(r.contact("1001", Millis(10)), Some("sip:1001@a"));
        req.contacts = vec!["<sip:1001@a>;expires=0".into()];
        let reply = r.handle(&req, Millis(20));
        assert_eq!((reply.code, reply.header("Contact")), (200, None));
        assert_eq!(r.contact("1001", Millis(20)), None);
        // `*` with Expires: 0 removes everything; `*` otherwise is a 400.
        req.contacts = vec!["<sip:1001@a>".into(), "\"Desk, 2\" <sip:1001@c>".into()];
        req.expires = None;
        assert_eq!(r.handle(&req, Millis(30)).code, 200);
        assert_eq!(r.contact("1001", Millis(30)), Some("sip:1001@c"));
        req.contacts = vec!["*".into()];
        assert_eq!(r.handle(&req, Millis(40)).code, 400);
        req.expires = Some("0".into());
        assert_eq!(r.handle(&req, Millis(40)).code, 200);
        assert_eq!(r.contact("1001", Millis(40)), None);
    }

    /// Seeded garbage in every header (bytes a phone or an attacker could send, and
    /// mangled copies of a good header): always an answer, never a panic.
    #[test]
    fn garbage_headers_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(0)));
        let good = answer(&nonce, "1001", "s3cret");
        let alphabet: Vec<char> = "Digest=,\" <>;:*@sip0123456789abcdefxyz\u{0}\u{7f}é中"
            .chars()
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for i in 0..5_000 {
            let mut text: String = if i % 2 == 0 {
                (0..rng.random_range(0..80))
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            } else {
                good.clone()
            };
            if i % 2 == 1 {
                // Cut and splice a good header at random character boundaries.
                let chars: Vec<char> = text.chars().collect();
                let a = rng.random_range(0..chars.len());
                let b = rng.random_range(a..chars.len());
                let c = alphabet[rng.random_range(0..alphabet.len())];
                text = chars[..a]
                    .iter()
                    .chain([c].iter())
                    .chain(chars[b..].iter())
                    .collect();
            }
            let req = RegisterRequest {
                aor_user: "1001".into(),
                authorization: Some(text.clone()),
                contacts: vec![text.clone()],
                expires: Some(text.clone()),
            };
            let code = r.handle(&req, Millis(1)).code;
            assert!([200, 400, 401, 403].contains(&code), "{text:?} -> {code}");
        }
    }

    #[test]
    fn malformed_headers_get_400_naming_the_header() {
        let mut r = registrar();
        let nonce = nonce_of(&r.handle(&register(None, ""), Millis(0)));
        let good = answer(&nonce, "1001", "s3cret");
        let cases: Vec<(String, &str)> = vec![
            ("Basic dXNlcjpwYXNz".into(), "not Digest"),
            ("Digest".into(), "no username"),
            ("Digest username".into(), "no value"),
            ("Digest username=\"1001".into(), "unterminated"),
            (good.replace("response=\"", "response=\"zz"), "32 hex"),
            (good.replace("nc=00000001", "nc=1"), "8 hex"),
            (
                good.replace("algorithm=MD5", "algorithm=SHA-256"),
                "algorithm",
            ),
            (good.replace("qop=auth", "qop=auth-int"), "qop"),
            (format!("{good}, realm=\"x\""), "twice"),
            (good.replace(", uri=", " uri="), "comma"),
            ("Digest =x".into(), "no name"),
            (
                format!("Digest username=\"{}\"", "a".repeat(5000)),
                "longer",
            ),
            ("Digest \u{0}=\"\\".into(), "unterminated"),
        ];
        for (auth, why) in cases {
            let reply = r.handle(&register(Some(auth.clone()), "<sip:1001@h>"), Millis(1));
            assert_eq!(reply.code, 400, "{auth}");
            let w = reply.header("Warning").unwrap();
            assert!(
                w.contains("Authorization") && w.contains(why),
                "{auth}: {w}"
            );
        }
        let auth = Some(good);
        for (contact, why) in [
            ("<sip:1001@h", "unbalanced"),
            ("<mailto:x@y>", "sip:"),
            ("<sip:1001@h>;expires=soon", "expires"),
        ] {
            let reply = r.handle(&register(auth.clone(), contact), Millis(1));
            assert_eq!(reply.code, 400, "{contact}");
            let w = reply.header("Warning").unwrap();
            assert!(w.contains("Contact header 1") && w.contains(why), "{w}");
        }
        let mut req = register(auth, "<sip:1001@h>");
        req.expires = Some("-1".into());
        let reply = r.handle(&req, Millis(1));
        assert_eq!(reply.code, 400);
        assert!(reply.header("Warning").unwrap().contains("Expires"));
    }
}

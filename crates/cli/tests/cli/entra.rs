//! A stand-in for Entra ID's token endpoint (and App Service's managed identity endpoint)
//! on 127.0.0.1: answers a bounded number of token requests with a fixed access token and
//! records what it was asked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The endpoint; it stops after `max` requests or a minute, whichever comes first.
pub(crate) struct Entra {
    pub(crate) url: String,
    /// The PEM certificate it serves, with TLS (self-signed: also its CA).
    pub(crate) ca_pem: Option<String>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl Entra {
    /// Serve `access_token` over TLS (`tls`) or plain HTTP for at most `max` requests.
    pub(crate) fn start(tls: bool, access_token: &str, max: usize) -> Entra {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (config, ca_pem) = if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
            let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
                rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()),
            );
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
            (Some(Arc::new(config)), Some(cert.cert.pem()))
        } else {
            (None, None)
        };
        let scheme = if tls { "https" } else { "http" };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let body = format!(
            r#"{{"access_token":"{access_token}","token_type":"Bearer","expires_in":3599}}"#
        );
        let thread = std::thread::spawn({
            let seen = seen.clone();
            move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut served = 0;
                while served < max && Instant::now() < deadline {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                        Err(_) => break,
                    };
                    served += 1;
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    if let Some(request) = answer(stream, config.as_ref(), &body) {
                        seen.lock().unwrap().push(request);
                    }
                }
            }
        });
        Entra {
            url: format!("{scheme}://{addr}"),
            ca_pem,
            seen,
            thread: Some(thread),
        }
    }

    /// What it was asked so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Entra {
    fn drop(&mut self) {
        // The thread ends by itself (bounded); do not wait for it here.
        drop(self.thread.take());
    }
}

/// Read one request and answer it; `None` when the client went away (a TLS failure).
fn answer(
    stream: TcpStream,
    config: Option<&Arc<rustls::ServerConfig>>,
    body: &str,
) -> Option<Seen> {
    if let Some(config) = config {
        let connection = rustls::ServerConnection::new(config.clone()).ok()?;
        let mut tls = rustls::StreamOwned::new(connection, stream);
        let seen = read_request(&mut tls)?;
        respond(&mut tls, body);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        Some(seen)
    } else {
        let mut plain = stream;
        let seen = read_request(&mut plain)?;
        respond(&mut plain, body);
        Some(seen)
    }
}

fn read_request(stream: &mut impl Read) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 16)];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(stream: &mut impl Write, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

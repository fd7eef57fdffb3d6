//! HTTPS with a per-Application CA (`ca.crt` in `spec.source.secretRef`).
//!
//! gix's reqwest transport builds its own client, trusting the system roots only. For a source
//! with its own CA, the agent hands gix this small [`Http`] implementation instead: a blocking
//! reqwest client (rustls) that trusts exactly that CA. It serves what a fetch needs: the
//! `GET …/info/refs` advertisement and the `POST …/git-upload-pack` requests, whose bodies are
//! small and are sent once complete (the request leaves when gix starts reading the response).

use std::io::{BufRead, Cursor, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::protocol::transport::client::blocking_io::http::{
    GetResponse, Http, Options, PostBodyDataKind, PostResponse,
};
use gix_error::ErrorExt;

/// Parses a PEM bundle into certificates.
///
/// # Errors
/// Not PEM, or no certificate in it.
pub fn parse_ca(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certs)
}

/// An HTTP backend for gix that trusts one CA bundle.
pub struct CaHttp {
    client: reqwest::blocking::Client,
    extra_headers: Vec<String>,
}

impl CaHttp {
    /// A backend trusting only `ca` (PEM).
    ///
    /// # Errors
    /// A bad bundle, or a client that cannot be built.
    pub fn new(ca: &str) -> Result<Self, String> {
        let client = reqwest::blocking::Client::builder()
            // Only this CA: not the system roots besides.
            .tls_certs_only(parse_ca(ca)?)
            .connect_timeout(Duration::from_secs(20))
            .http1_title_case_headers()
            // A redirect could leave the host the CA was given for: refused.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(CaHttp {
            client,
            extra_headers: Vec::new(),
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> std::io::Result<reqwest::blocking::RequestBuilder> {
        let mut req = self.client.request(method, url);
        let lines = headers
            .into_iter()
            .map(|h| h.as_ref().to_owned())
            .chain(self.extra_headers.iter().cloned());
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(std::io::Error::other(format!("bad header line `{line}`")));
            };
            req = req.header(name.trim(), value.trim());
        }
        Ok(req)
    }
}

/// Sends a request; an HTTP error status becomes an I/O error naming it.
fn send(req: reqwest::blocking::RequestBuilder) -> std::io::Result<Exchanged> {
    let response = req
        .send()
        .map_err(|e| std::io::Error::other(super::error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let kind = if status == reqwest::StatusCode::UNAUTHORIZED {
            std::io::ErrorKind::PermissionDenied
        } else {
            std::io::ErrorKind::Other
        };
        return Err(std::io::Error::new(
            kind,
            format!("HTTP status {status} from {}", response.url()),
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in response.headers() {
        headers.extend_from_slice(name.as_str().as_bytes());
        headers.push(b':');
        headers.extend_from_slice(value.as_bytes());
        headers.push(b'\n');
    }
    Ok(Exchanged {
        headers: Some(headers),
        body: Some(response),
    })
}

struct Exchanged {
    headers: Option<Vec<u8>>,
    body: Option<reqwest::blocking::Response>,
}

/// A request not sent yet (its body is being written), or its response.
enum Exchange {
    Pending {
        request: Option<reqwest::blocking::RequestBuilder>,
        body: Vec<u8>,
    },
    Sent(std::io::Result<Exchanged>),
}

type Shared = Arc<Mutex<Exchange>>;

/// Sends the pending request, once.
fn resolve(shared: &Shared) {
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    if let Exchange::Pending { request, body } = &mut *guard {
        let result = match request.take() {
            Some(req) => send(req.body(std::mem::take(body))),
            None => Err(std::io::Error::other("request already sent")),
        };
        *guard = Exchange::Sent(result);
    }
}

/// Takes a part of the response out of the exchange (sending it first if needed).
fn take<T>(shared: &Shared, part: impl FnOnce(&mut Exchanged) -> Option<T>) -> std::io::Result<T> {
    resolve(shared);
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    match &mut *guard {
        Exchange::Sent(Ok(ex)) => {
            part(ex).ok_or_else(|| std::io::Error::other("response part already read"))
        }
        Exchange::Sent(Err(e)) => Err(std::io::Error::new(e.kind(), e.to_string())),
        Exchange::Pending { .. } => Err(std::io::Error::other("request not sent")),
    }
}

/// The response headers, `name:value` lines.
pub struct Headers {
    shared: Shared,
    data: Option<Cursor<Vec<u8>>>,
}

impl Headers {
    fn data(&mut self) -> std::io::Result<&mut Cursor<Vec<u8>>> {
        if self.data.is_none() {
            let bytes = take(&self.shared, |ex| ex.headers.take())?;
            self.data = Some(Cursor::new(bytes));
        }
        Ok(self.data.as_mut().expect("set above"))
    }
}

impl Read for Headers {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.data()?.read(buf)
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.data()?.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Some(d) = self.data.as_mut() {
            d.consume(amt);
        }
    }
}

/// The response body, streamed.
pub struct Body {
    shared: Shared,
    data: Option<std::io::BufReader<reqwest::blocking::Response>>,
}

impl Body {
    fn data(&mut self) -> std::io::Result<&mut std::io::BufReader<reqwest::blocking::Response>> {
        if self.data.is_none() {
            let response = take(&self.shared, |ex| ex.body.take())?;
            self.data = Some(std::io::BufReader::with_capacity(64 << 10, response));
        }
        Ok(self.data.as_mut().expect("set above"))
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.data()?.read(buf)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.data()?.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Some(d) = self.data.as_mut() {
            d.consume(amt);
        }
    }
}

/// The request body: collected, sent when the response is first read.
pub struct PostBody(Shared);

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *guard {
            Exchange::Pending { body, .. } => {
                body.extend_from_slice(buf);
                Ok(buf.len())
            }
            Exchange::Sent(_) => Err(std::io::Error::other(
                "request body written after the request was sent",
            )),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Http for CaHttp {
    type Headers = Headers;
    type ResponseBody = Body;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix_error::Result<GetResponse<Headers, Body>> {
        let req = self
            .request(reqwest::Method::GET, url, headers)
            .map_err(ErrorExt::raise)?;
        let exchanged = send(req).map_err(ErrorExt::raise)?;
        let shared = Arc::new(Mutex::new(Exchange::Sent(Ok(exchanged))));
        Ok(GetResponse {
            headers: Headers {
                shared: shared.clone(),
                data: None,
            },
            body: Body { shared, data: None },
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix_error::Result<PostResponse<Headers, Body, PostBody>> {
        let req = self
            .request(reqwest::Method::POST, url, headers)
            .map_err(ErrorExt::raise)?;
        let shared = Arc::new(Mutex::new(Exchange::Pending {
            request: Some(req),
            body: Vec::new(),
        }));
        Ok(PostResponse {
            post_body: PostBody(shared.clone()),
            headers: Headers {
                shared: shared.clone(),
                data: None,
            },
            body: Body { shared, data: None },
        })
    }

    fn configure(&mut self, config: &dyn std::any::Any) -> gix_error::Result {
        // `http.extraHeader` (the source's credentials) comes through gix's options.
        if let Some(options) = config.downcast_ref::<Options>() {
            self.extra_headers = options.extra_headers.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundles_should_parse_or_be_refused_clearly() {
        assert!(parse_ca("not pem").is_err());
        assert!(parse_ca("").unwrap_err().contains("no certificate"));
        assert!(CaHttp::new("garbage").is_err());
    }

    #[test]
    fn a_post_body_should_be_collected_until_the_response_is_read() {
        let shared: Shared = Arc::new(Mutex::new(Exchange::Pending {
            request: None,
            body: Vec::new(),
        }));
        let mut w = PostBody(shared.clone());
        w.write_all(b"0009done\n").unwrap();
        match &*shared.lock().unwrap() {
            Exchange::Pending { body, .. } => assert_eq!(body, b"0009done\n"),
            Exchange::Sent(_) => panic!("sent too early"),
        }
        // Reading without a request to send fails cleanly, and writing afterwards too.
        let mut h = Headers {
            shared: shared.clone(),
            data: None,
        };
        assert!(h.fill_buf().is_err());
        assert!(w.write(b"more").is_err());
    }
}

//! A minimal blocking HTTP/1.1 client for the timestamp authority, OCSP responders, CRL
//! distribution points and CSC signing services.
//!
//! std::net plus the openssl already linked for TLS: one request per signature needs no HTTP crate,
//! no async runtime inside a blocking signing call, and adds no dependency.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response body accepted.
const MAX_BODY: u64 = 1 << 20;

/// Parsed pieces of a URL the client supports.
struct Url<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "unsupported URL `{url}` (http:// or https:// only)"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in `{url}`"))?,
        ),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(format!("no host in `{url}`"));
    }
    Ok(Url {
        tls,
        host,
        port,
        path,
    })
}

/// POSTs `body` to a timestamp authority and returns the response body of a 200 answer.
pub fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    request(
        Request {
            method: "POST",
            content_type: Some(content_type),
            accept: "application/timestamp-reply",
            body,
            authorization: None,
        },
        url,
        timeout,
    )
}

/// POSTs `body` with an `Accept` of the caller's (an OCSP request).
pub fn post_accepting(
    url: &str,
    content_type: &str,
    accept: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    request(
        Request {
            method: "POST",
            content_type: Some(content_type),
            accept,
            body,
            authorization: None,
        },
        url,
        timeout,
    )
}

/// POSTs `body` with an `Accept` and an `Authorization` header of the caller's (a CSC
/// service: `Basic …` at `auth/login`, `Bearer …` after it).
pub fn post_authorized(
    url: &str,
    content_type: &str,
    accept: &str,
    authorization: Option<&str>,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    if authorization.is_some_and(|a| a.contains(['\r', '\n'])) {
        return Err("an Authorization value holds a line break".into());
    }
    request(
        Request {
            method: "POST",
            content_type: Some(content_type),
            accept,
            body,
            authorization,
        },
        url,
        timeout,
    )
}

/// GETs `url` (a CRL) and returns the body of a 200 answer.
pub fn get(url: &str, accept: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    request(
        Request {
            method: "GET",
            content_type: None,
            accept,
            body: &[],
            authorization: None,
        },
        url,
        timeout,
    )
}

struct Request<'a> {
    method: &'a str,
    content_type: Option<&'a str>,
    accept: &'a str,
    body: &'a [u8],
    authorization: Option<&'a str>,
}

fn request(r: Request, url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let u = parse_url(url)?;
    let addr = (u.host.trim_start_matches('[').trim_end_matches(']'), u.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", u.host))?
        .next()
        .ok_or_else(|| format!("cannot resolve {}", u.host))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {}:{}: {e}", u.host, u.port))?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let content_type = r
        .content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    let authorization = r
        .authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n{content_type}{authorization}Content-Length: {}\r\nAccept: {}\r\nConnection: close\r\nUser-Agent: docflow\r\n\r\n",
        r.method,
        u.path,
        u.host,
        r.body.len(),
        r.accept,
    );
    let raw = if u.tls {
        let connector = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
            .map_err(|e| e.to_string())?
            .build();
        let mut s = connector
            .connect(u.host, tcp)
            .map_err(|e| format!("TLS with {}: {e}", u.host))?;
        exchange(&mut s, head.as_bytes(), r.body, timeout)?
    } else {
        let mut s = tcp;
        exchange(&mut s, head.as_bytes(), r.body, timeout)?
    };
    parse_response(&raw)
}

fn exchange<S: Read + Write>(
    s: &mut S,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let send = |e: std::io::Error| format!("sending the request: {e}");
    s.write_all(head).map_err(send)?;
    s.write_all(body).map_err(send)?;
    s.flush().map_err(send)?;
    // The socket timeout bounds each read; this bounds the whole answer (a slow drip included).
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() as u64 > MAX_BODY + 16 * 1024 {
            return Err("the response is too large".into());
        }
        if Instant::now() > deadline {
            return Err("the response took too long".into());
        }
    }
}

/// Whether an error of this module is the server's 4xx answer (a refusal, not an outage).
pub fn is_refusal(error: &str) -> bool {
    error.starts_with("HTTP status 4")
}

fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(format!("HTTP status {code} (`{status}`)"));
    }
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse().ok();
            }
        }
    }
    if chunked {
        return dechunk(body);
    }
    match length {
        Some(n) if n <= body.len() => Ok(body[..n].to_vec()),
        Some(_) => Err("truncated HTTP response".into()),
        None => Ok(body.to_vec()),
    }
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("malformed chunked response")?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err("truncated chunked response".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("http://127.0.0.1:9000/testing-ca/tsa/tsa").unwrap();
        assert_eq!(
            (u.tls, u.host, u.port, u.path),
            (false, "127.0.0.1", 9000, "/testing-ca/tsa/tsa")
        );
        let u = parse_url("https://tsa.example").unwrap();
        assert_eq!((u.tls, u.port, u.path), (true, 443, "/"));
        assert!(parse_url("ftp://x").is_err());
    }

    #[test]
    fn parses_chunked_and_sized_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r, b"abcde");
        let r = parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nxyz").unwrap();
        assert_eq!(r, b"xy");
        assert!(parse_response(b"HTTP/1.1 500 Oops\r\n\r\n").is_err());
    }
}

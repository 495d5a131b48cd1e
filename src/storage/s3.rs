//! The S3-compatible backend (AWS S3, MinIO, Ceph RGW, Garage, …) through `object_store`, with
//! request signing done by openssl: the crate's default crypto would pull a second TLS and crypto
//! stack (aws-lc) into the build for two primitives the binary already has.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::client::{
    CryptoProvider, DigestAlgorithm, DigestContext, HmacContext, SigningAlgorithm,
};
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

/// Where an S3 store lives and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// Endpoint URL for S3-compatible services; empty: AWS for `region`.
    pub endpoint: String,
    /// Region name.
    pub region: String,
    /// Access key id; empty: taken from the standard `AWS_*` environment.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// Splits `s3://bucket/prefix/…` into bucket and prefix.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    bucket_ok.then(|| (bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// Opens the store; nothing is contacted until the first request.
pub fn open(settings: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_crypto_provider(Arc::new(OpensslCrypto))
        // A clerk waits on an upload: a store that is down answers 503 within seconds, not
        // after the crate's default three minutes of retries.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(120)),
        );
    if !settings.endpoint.is_empty() {
        builder = builder
            .with_endpoint(&settings.endpoint)
            .with_allow_http(settings.endpoint.starts_with("http://"));
    }
    if !settings.access_key_id.is_empty() {
        builder = builder
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key);
    }
    let store = builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot open the S3 store: {e}"))?;
    Ok(if settings.prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, settings.prefix.as_str()))
    })
}

/// SHA-256 and HMAC-SHA-256 (all S3 request signing needs) from openssl.
#[derive(Debug)]
struct OpensslCrypto;

fn crypto_error(msg: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: msg.to_string().into(),
    }
}

impl CryptoProvider for OpensslCrypto {
    fn digest(&self, algorithm: DigestAlgorithm) -> object_store::Result<Box<dyn DigestContext>> {
        match algorithm {
            DigestAlgorithm::Sha256 => Ok(Box::new(Sha256Ctx::default())),
            _ => Err(crypto_error("unsupported digest")),
        }
    }

    fn hmac(
        &self,
        algorithm: DigestAlgorithm,
        secret: &[u8],
    ) -> object_store::Result<Box<dyn HmacContext>> {
        match algorithm {
            DigestAlgorithm::Sha256 => Ok(Box::new(HmacSha256::new(secret))),
            _ => Err(crypto_error("unsupported HMAC")),
        }
    }

    fn sign(
        &self,
        _algorithm: SigningAlgorithm,
        _pem: &[u8],
    ) -> object_store::Result<Box<dyn object_store::client::Signer>> {
        // Only Google Cloud service accounts sign with RSA; S3 never asks.
        Err(crypto_error("RSA request signing is not used by S3"))
    }
}

#[derive(Default)]
struct Sha256Ctx {
    hasher: Option<openssl::sha::Sha256>,
    out: [u8; 32],
}

impl DigestContext for Sha256Ctx {
    fn update(&mut self, data: &[u8]) {
        self.hasher
            .get_or_insert_with(openssl::sha::Sha256::new)
            .update(data);
    }

    fn finish(&mut self) -> object_store::Result<&[u8]> {
        self.out = self.hasher.take().unwrap_or_default().finish();
        Ok(&self.out)
    }
}

/// HMAC (RFC 2104) over SHA-256.
struct HmacSha256 {
    inner: openssl::sha::Sha256,
    outer_key: [u8; 64],
    out: [u8; 32],
}

impl HmacSha256 {
    fn new(secret: &[u8]) -> Self {
        let mut key = [0u8; 64];
        if secret.len() > 64 {
            key[..32].copy_from_slice(&openssl::sha::sha256(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        let mut inner = openssl::sha::Sha256::new();
        inner.update(&key.map(|b| b ^ 0x36));
        HmacSha256 {
            inner,
            outer_key: key.map(|b| b ^ 0x5c),
            out: [0; 32],
        }
    }
}

impl HmacContext for HmacSha256 {
    fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    fn finish(&mut self) -> object_store::Result<&[u8]> {
        let inner = std::mem::replace(&mut self.inner, openssl::sha::Sha256::new()).finish();
        let mut outer = openssl::sha::Sha256::new();
        outer.update(&self.outer_key);
        outer.update(&inner);
        self.out = outer.finish();
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 (short key) and 6 (key longer than the block).
        let mut h = OpensslCrypto
            .hmac(DigestAlgorithm::Sha256, b"Jefe")
            .unwrap();
        h.update(b"what do ya want ");
        h.update(b"for nothing?");
        assert_eq!(
            hex(h.finish().unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = [0xaau8; 131];
        let mut h = OpensslCrypto.hmac(DigestAlgorithm::Sha256, &key).unwrap();
        h.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex(h.finish().unwrap()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn digest_is_sha256() {
        let mut d = OpensslCrypto.digest(DigestAlgorithm::Sha256).unwrap();
        d.update(b"abc");
        assert_eq!(
            hex(d.finish().unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://docflow-files/office/a/"),
            Some(("docflow-files".into(), "office/a".into()))
        );
        assert_eq!(
            parse_url("s3://docflow"),
            Some(("docflow".into(), "".into()))
        );
        assert_eq!(parse_url("s3://No_Caps"), None);
        assert_eq!(parse_url("s3://"), None);
        assert_eq!(parse_url("http://x"), None);
    }
}

//! Credentials the office issues itself (closed deployments without a public CA): the office's
//! own CA (`office_ca_path`), read once at start, gives an official a key pair and a signing
//! certificate, kept as a `server` credential like an uploaded one. The certificate building is
//! free of HTTP and database; `service::issue_for_user` stores and audits it.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::Path;

/// Days an issued certificate is valid (never beyond the CA's own end).
pub const ISSUED_VALIDITY_DAYS: u32 = 730;

/// The office's CA: its key, its certificate and the rest of its chain (up to a root).
pub struct OfficeCa {
    key: PKey<Private>,
    cert: X509,
    chain: Vec<X509>,
}

impl std::fmt::Debug for OfficeCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeCa")
            .field("subject", &name_text(self.cert.subject_name()))
            .finish_non_exhaustive()
    }
}

fn name_text(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                e.data().to_string().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl OfficeCa {
    /// Reads the CA from a PKCS#12 file or PEM text (private key, encrypted with `password`
    /// when one is given, and certificates; the one matching the key is the CA's). The file
    /// must be readable by its owner only, and the certificate a CA's (basicConstraints CA).
    pub fn load(path: &Path, password: &str) -> Result<OfficeCa, String> {
        check_private_file(path)?;
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
        let pem = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN"));
        let (key, cert, chain) = if pem {
            let key = if password.is_empty() {
                PKey::private_key_from_pem(&bytes)
            } else {
                PKey::private_key_from_pem_passphrase(&bytes, password.as_bytes())
            }
            .map_err(|_| "no private key readable with office_ca_password in the PEM file")?;
            let mut all = X509::stack_from_pem(&bytes).map_err(|e| e.to_string())?;
            let at = all
                .iter()
                .position(|c| c.public_key().map(|p| p.public_eq(&key)).unwrap_or(false))
                .ok_or("the private key belongs to none of the certificates in the file")?;
            let cert = all.remove(at);
            (key, cert, all)
        } else {
            let p12 = openssl::pkcs12::Pkcs12::from_der(&bytes)
                .and_then(|p| p.parse2(password))
                .map_err(|_| "not a PKCS#12 file readable with office_ca_password, nor PEM")?;
            let key = p12.pkey.ok_or("the PKCS#12 file holds no private key")?;
            let cert = p12.cert.ok_or("the PKCS#12 file holds no certificate")?;
            let own = cert.to_der().map_err(|e| e.to_string())?;
            let chain = p12
                .ca
                .map(|s| s.into_iter().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.to_der().map(|d| d != own).unwrap_or(true))
                .collect();
            (key, cert, chain)
        };
        if !is_ca(&cert)? {
            return Err("the certificate is not a CA's (no basicConstraints CA:TRUE)".into());
        }
        Ok(OfficeCa { key, cert, chain })
    }

    /// The CA's certificate.
    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// The chain an issued certificate carries: the CA's certificate, then the rest of its chain.
    pub fn chain(&self) -> Vec<X509> {
        std::iter::once(self.cert.clone())
            .chain(self.chain.iter().cloned())
            .collect()
    }
}

#[cfg(unix)]
fn check_private_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a file".into());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "it holds the CA's private key but is readable by group or others (mode {:o}): chmod 600",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_file(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err("it is not a file".into());
    }
    Ok(())
}

/// Whether the certificate's basicConstraints say CA:TRUE.
fn is_ca(cert: &X509) -> Result<bool, String> {
    use der::Decode;
    use x509_cert::ext::pkix::BasicConstraints as Bc;
    let der = cert.to_der().map_err(|e| e.to_string())?;
    let parsed = x509_cert::Certificate::from_der(&der).map_err(|e| e.to_string())?;
    let oid = der::oid::ObjectIdentifier::new_unwrap("2.5.29.19");
    Ok(parsed
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid)
        .and_then(|e| Bc::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|bc| bc.ca))
}

/// Who a certificate is issued to (Decree 30's signer: name, position, unit, organisation).
#[derive(Debug, Clone)]
pub struct Holder {
    pub full_name: String,
    pub position_title: String,
    /// The holder's unit, when it is not the organisation itself.
    pub unit: Option<String>,
    /// The top unit of the holder's unit tree (the Sở).
    pub organisation: String,
    /// Put in the subjectAltName when it is an address.
    pub email: String,
}

/// A fresh RSA-2048 key (what Vietnamese signing tools and older readers all accept).
pub fn new_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    PKey::from_rsa(Rsa::generate(2048)?)
}

/// Issues a signing certificate for `key` to `holder`: subject C=VN, O, OU, title, CN; key
/// usage digitalSignature + nonRepudiation (critical), not a CA; valid from an hour ago for
/// [`ISSUED_VALIDITY_DAYS`], not beyond the CA's own end; a random 128-bit serial.
pub fn issue(
    ca: &OfficeCa,
    holder: &Holder,
    key: &PKey<Private>,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("C", "VN")?;
    name.append_entry_by_text("O", &holder.organisation)?;
    if let Some(unit) = holder.unit.as_deref().filter(|u| !u.is_empty()) {
        name.append_entry_by_text("OU", unit)?;
    }
    if !holder.position_title.is_empty() {
        name.append_entry_by_text("title", &holder.position_title)?;
    }
    name.append_entry_by_text("CN", &holder.full_name)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(ca.cert.subject_name())?;
    b.set_pubkey(key)?;
    let now = chrono::Utc::now().timestamp();
    let not_before = Asn1Time::from_unix(now - 3600)?;
    b.set_not_before(&not_before)?;
    let wanted = Asn1Time::from_unix(now + i64::from(ISSUED_VALIDITY_DAYS) * 86_400)?;
    // Asn1Time orders by time; a certificate outliving its CA would not validate.
    if wanted.as_ref() < ca.cert.not_after() {
        b.set_not_after(&wanted)?;
    } else {
        b.set_not_after(ca.cert.not_after())?;
    }
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .non_repudiation()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(&ca.cert), None))?;
    b.append_extension(ski)?;
    // Only a CA certificate with a key identifier can be named by it (OpenSSL refuses else).
    if ca.cert.subject_key_id().is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(Some(&ca.cert), None))?;
        b.append_extension(aki)?;
    }
    if holder.email.parse::<lettre::Address>().is_ok() {
        let san = SubjectAlternativeName::new()
            .email(&holder.email)
            .build(&b.x509v3_context(Some(&ca.cert), None))?;
        b.append_extension(san)?;
    }
    b.sign(&ca.key, MessageDigest::sha256())?;
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> OfficeCa {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "Office CA").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(100).unwrap())
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        OfficeCa {
            key,
            cert: b.build(),
            chain: vec![],
        }
    }

    #[test]
    fn issued_certificates_sign_chain_and_stop_with_the_ca() {
        let ca = ca();
        assert!(is_ca(&ca.cert).unwrap());
        let key = new_key().unwrap();
        let holder = Holder {
            full_name: "Trần Văn Minh".into(),
            position_title: "Giám đốc".into(),
            unit: Some("Phòng Việc làm".into()),
            organisation: "Sở Lao động - Thương binh và Xã hội".into(),
            email: "minh@example.gov.vn".into(),
        };
        let cert = issue(&ca, &holder, &key).unwrap();
        assert!(cert.verify(ca.cert.public_key().as_ref().unwrap()).unwrap());
        assert!(!is_ca(&cert).unwrap());
        // The checks every server credential passes: valid now, for signatures, trusted.
        let now = chrono::Utc::now().naive_utc();
        let roots = [ca.cert.clone()];
        crate::credentials::certs::check(&cert, &ca.chain(), &roots, now).unwrap();
        // The CA ends in 100 days: so does the certificate, not in two years.
        assert_eq!(
            cert.not_after().compare(ca.cert.not_after()).unwrap(),
            std::cmp::Ordering::Equal
        );
        let subject = name_text(cert.subject_name());
        assert!(subject.contains("CN=Trần Văn Minh"), "{subject}");
        assert!(subject.contains("OU=Phòng Việc làm"), "{subject}");
        assert!(subject.contains("O=Sở Lao động"), "{subject}");
        // Two certificates never share a serial.
        let other = issue(&ca, &holder, &key).unwrap();
        assert_ne!(
            cert.serial_number().to_bn().unwrap(),
            other.serial_number().to_bn().unwrap()
        );
    }
}

//! Types of the signing-credentials domain: ids, kinds, rows and the shapes the API reads and
//! writes. No type here holds a private key or a PIN in a printable form.

use crate::db::schema::{signature_images, signing_credentials};
use crate::error::ApiError;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Id of a signing credential (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct CredentialId(pub String);

/// How a credential signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum CredentialKind {
    /// The key is kept here, encrypted under the KEK and the holder's PIN.
    Server,
    /// A USB token or smart card at the holder's desk: only the certificate is kept here.
    Token,
    /// A remote signing service speaking the Cloud Signature Consortium API.
    Csc,
}
text_enum!(CredentialKind { Server => "server", Token => "token", Csc => "csc" });

/// Whether a credential can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum CredentialStatus {
    Active,
    /// Deleted by its holder (or replaced, for a seal): the encrypted key is wiped.
    Deleted,
}
text_enum!(CredentialStatus { Active => "active", Deleted => "deleted" });

/// Who holds a credential or an image: a user, or a unit (the organisation seal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
    Unit(String),
}

impl Owner {
    /// The owner as bound into the encrypted key (`user:<id>` / `unit:<id>`).
    pub fn binding(&self) -> String {
        match self {
            Owner::User(id) => format!("user:{id}"),
            Owner::Unit(id) => format!("unit:{id}"),
        }
    }
}

/// A stored credential row (the encrypted key never leaves the service).
#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = signing_credentials)]
pub struct CredentialRow {
    pub id: String,
    pub owner_user_id: Option<String>,
    pub owner_unit_id: Option<String>,
    pub kind: CredentialKind,
    pub label: String,
    pub status: CredentialStatus,
    pub cert_der: Option<Vec<u8>>,
    pub chain_der: Option<Vec<u8>>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub serial: Option<String>,
    pub not_before: Option<NaiveDateTime>,
    pub not_after: Option<NaiveDateTime>,
    pub cert_sha256: Option<String>,
    pub key_ciphertext: Option<Vec<u8>>,
    pub key_nonce: Option<Vec<u8>>,
    pub key_salt: Option<Vec<u8>>,
    pub key_kdf: Option<String>,
    pub kek_id: Option<String>,
    pub csc_config: Option<String>,
    pub pin_failures: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl CredentialRow {
    /// The owner; a row with neither or both is an internal error (the table forbids it).
    pub fn owner(&self) -> Result<Owner, ApiError> {
        match (&self.owner_user_id, &self.owner_unit_id) {
            (Some(u), None) => Ok(Owner::User(u.clone())),
            (None, Some(u)) => Ok(Owner::Unit(u.clone())),
            _ => Err(ApiError::internal(anyhow::anyhow!(
                "credential {}: owner",
                self.id
            ))),
        }
    }
}

/// A credential as the API lists it: what it is and whose certificate, never key material.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Credential {
    pub id: CredentialId,
    pub kind: CredentialKind,
    pub label: String,
    pub status: CredentialStatus,
    /// Certificate subject (`C=VN, O=…, CN=…`); none for a `csc` credential.
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// Serial number, upper-case hex.
    pub serial: Option<String>,
    #[serde(with = "crate::datetime::z_opt")]
    pub not_before: Option<NaiveDateTime>,
    #[serde(with = "crate::datetime::z_opt")]
    pub not_after: Option<NaiveDateTime>,
    /// Lower-case hex SHA-256 of the certificate (DER): what the audit log names.
    pub certificate_sha256: Option<String>,
    /// A `csc` credential's service settings.
    pub csc: Option<CscConfig>,
    /// Until when wrong PINs keep it locked (UTC), when they do.
    #[serde(with = "crate::datetime::z_opt")]
    pub locked_until: Option<NaiveDateTime>,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
}

/// Which API a remote signing service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoteProvider {
    /// The Cloud Signature Consortium API (`api_version` v1 or v2); signs at once.
    #[default]
    Csc,
    /// VNPT SmartCA's service-provider API (`sp769`): the holder confirms each signature in the
    /// SmartCA app; `credential_id` is the holder's SmartCA user id (citizen-id number); the
    /// office's account is the `smartca_sp_id` / `smartca_sp_password` settings.
    VnptSmartca,
}

/// CSC API version of a remote signing service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CscVersion {
    /// `/csc/v1/…` (`hash[]`, `hashAlgo`, `signAlgo`).
    #[default]
    V1,
    /// `/csc/v2/…` (`hashes[]`, `hashAlgorithmOID`).
    V2,
}

/// How the server authenticates to a CSC service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CscAuth {
    /// `auth/login` with HTTP Basic (`username` of the settings, the holder's `pin` at each use
    /// as the password, never stored), giving the bearer token of every later call.
    Basic,
    /// OAuth 2.0 (authorization code or client credentials).
    Oauth2,
    /// The holder's PIN / OTP at `credentials/authorize` only.
    None,
}

/// The settings of a `csc` credential (no secret: a PIN or OTP comes with each use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CscConfig {
    /// Which API the service speaks; default `csc`.
    #[serde(default)]
    pub provider: RemoteProvider,
    /// The service's base URL, `https://…` (the `/csc/v1|v2/` paths are added).
    pub base_url: String,
    /// The credential id at the service (`credentialID`; SmartCA: the holder's user id).
    pub credential_id: String,
    /// CSC only; default v1.
    #[serde(default)]
    pub api_version: CscVersion,
    pub auth: CscAuth,
    /// The holder's account at the service (`auth: basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `POST /me/signing-credentials` with a JSON body (`token` or `csc`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum NewCredentialJson {
    /// A token's certificate: base64 DER.
    Token { label: String, certificate: String },
    /// A remote signing service.
    Csc {
        label: String,
        /// Default `csc`.
        #[serde(default)]
        provider: RemoteProvider,
        base_url: String,
        credential_id: String,
        /// CSC only; default v1.
        #[serde(default)]
        api_version: CscVersion,
        auth: CscAuth,
        /// The holder's account at the service: required with `auth: basic`.
        #[serde(default)]
        username: Option<String>,
    },
}

/// The `metadata` part of a multipart `POST /me/signing-credentials`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadMetadata {
    /// `server` (the file is a PKCS#12 or PEM key + certificates) or `token` (a certificate).
    pub kind: CredentialKind,
    pub label: String,
    /// `server`: the signing PIN asked at each use (at least 6 characters).
    #[serde(default)]
    pub pin: Option<String>,
    /// `server`: the PKCS#12 password (or of an encrypted PEM key).
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for UploadMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadMetadata")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// The `metadata` part of `PUT /units/{id}/seal`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealMetadata {
    /// The PKCS#12 password.
    pub password: String,
    /// The seal's PIN, held by the unit's clerks (at least 6 characters).
    pub pin: String,
    /// A label; default "Con dấu".
    #[serde(default)]
    pub label: Option<String>,
}

impl std::fmt::Debug for SealMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealMetadata { .. }")
    }
}

/// `PUT /me/signing-credentials/{id}/pin`: the PIN the key opens with now, and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinChangeRequest {
    /// The current signing PIN (checked and counted as at signing).
    pub pin: String,
    /// The new signing PIN (at least 6 characters, not the current one).
    pub new_pin: String,
}

impl std::fmt::Debug for PinChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinChangeRequest { .. }")
    }
}

/// `POST /users/{id}/signing-credentials`: what the admin gives.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The signing PIN the admin hands over to the holder (at least 6 characters).
    pub pin: String,
    /// A label; default "Chứng thư số của cơ quan".
    #[serde(default)]
    pub label: Option<String>,
}

impl std::fmt::Debug for IssueRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssueRequest { .. }")
    }
}

/// A stored signature or seal image row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signature_images)]
pub struct ImageRow {
    pub id: String,
    pub owner_user_id: Option<String>,
    pub owner_unit_id: Option<String>,
    pub sha256: String,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    pub updated_at: NaiveDateTime,
}

/// A signature or seal image as the API describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureImage {
    /// Lower-case hex SHA-256 of the PNG.
    pub sha256: String,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
}

impl From<ImageRow> for SignatureImage {
    fn from(r: ImageRow) -> Self {
        SignatureImage {
            sha256: r.sha256,
            size: r.size,
            width: r.width,
            height: r.height,
            updated_at: r.updated_at,
        }
    }
}

/// A unit's seal as `PUT /units/{id}/seal` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Seal {
    pub credential: Credential,
    pub image: SignatureImage,
}

//! Types of the documents domain: ids, the Decree 30 levels and states, rows, and the shapes
//! the API reads and writes.

use crate::db::schema::{
    document_attachments, document_registrations, document_versions, documents,
};
use crate::registry::model::Series;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Id of a document (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct DocumentId(pub String);

/// Direction of a document, and kind of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Kind {
    /// Văn bản đến: received from outside, numbered at registration.
    Incoming,
    /// Văn bản đi: drafted here, numbered at issuance.
    Outgoing,
    /// Văn bản nội bộ.
    Internal,
}
text_enum!(Kind { Incoming => "incoming", Outgoing => "outgoing", Internal => "internal" });

/// What the signature check of an incoming electronic document found at its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum SignaturesCheck {
    /// Signed, and every signature intact, valid and trusted (`all_valid` of the report).
    Valid,
    /// Signed, but some signature is not (broken, untrusted, changed after signing), or the
    /// file could not be read as a PDF to check it.
    Invalid,
    /// No signature at all.
    Unsigned,
}
text_enum!(SignaturesCheck { Valid => "valid", Invalid => "invalid", Unsigned => "unsigned" });

/// Channels of incoming documents counted as electronic (compared in lower case, trimmed).
pub const ELECTRONIC_CHANNELS: &[&str] = &[
    "electronic",
    "email",
    "lgsp",
    "national_platform",
    "điện tử",
];

/// Whether an incoming document's `received_channel` is an electronic one.
pub fn is_electronic_channel(channel: Option<&str>) -> bool {
    let c = channel.unwrap_or_default().trim().to_lowercase();
    ELECTRONIC_CHANNELS.contains(&c.as_str())
}

/// Độ khẩn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Urgency {
    /// Thường.
    #[default]
    Normal,
    /// Khẩn.
    Urgent,
    /// Thượng khẩn.
    VeryUrgent,
    /// Hỏa tốc.
    Flash,
}
text_enum!(Urgency { Normal => "normal", Urgent => "urgent", VeryUrgent => "very_urgent", Flash => "flash" });

/// Độ mật.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Confidentiality {
    /// Thường (not classified).
    #[default]
    Normal,
    /// Mật.
    Confidential,
    /// Tối mật.
    Secret,
    /// Tuyệt mật.
    TopSecret,
}
text_enum!(Confidentiality { Normal => "normal", Confidential => "confidential", Secret => "secret", TopSecret => "top_secret" });

impl Confidentiality {
    /// Mật and above: own numbering series, visible only to granted users.
    pub fn is_classified(self) -> bool {
        self != Confidentiality::Normal
    }
}

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Status {
    /// Outgoing or internal, being written; owned by its drafter.
    Draft,
    /// Incoming, arrived, not yet registered.
    Received,
    /// Numbered in a register.
    Registered,
    /// Incoming, sent back to the sender (misaddressed).
    Returned,
    /// Outgoing, signed, numbered and sent.
    Issued,
    /// Filed in the archive.
    Archived,
}
text_enum!(Status {
    Draft => "draft",
    Received => "received",
    Registered => "registered",
    Returned => "returned",
    Issued => "issued",
    Archived => "archived",
});

/// A document row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = documents)]
pub struct DocumentRow {
    pub id: String,
    pub kind: Kind,
    pub status: Status,
    pub unit_id: String,
    pub created_by: String,
    pub type_code: String,
    pub number_symbol: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub issue_place: Option<String>,
    pub issuer: Option<String>,
    pub issuer_search: Option<String>,
    pub subject: String,
    pub subject_search: String,
    pub signer_name: Option<String>,
    pub signer_position: Option<String>,
    pub recipients: String,
    pub urgency: Urgency,
    pub confidentiality: Confidentiality,
    pub handling_deadline: Option<NaiveDate>,
    pub received_at: Option<NaiveDateTime>,
    pub received_channel: Option<String>,
    pub page_count: Option<i32>,
    pub notes: String,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub acknowledged_by: Option<String>,
    pub returned_at: Option<NaiveDateTime>,
    pub return_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What the signature check at registration found (incoming electronic documents).
    pub signatures_check: Option<SignaturesCheck>,
    pub signatures_checked_at: Option<NaiveDateTime>,
}

/// A registration row: the document's number in a register.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_registrations)]
pub struct RegistrationRow {
    pub document_id: String,
    pub register_id: String,
    pub series: Series,
    pub year: i32,
    pub number: i64,
    pub symbol: String,
    pub registered_at: NaiveDateTime,
    pub registered_by: Option<String>,
}

impl From<RegistrationRow> for Registration {
    fn from(r: RegistrationRow) -> Self {
        Registration {
            register_id: r.register_id,
            series: r.series,
            year: r.year,
            number: r.number,
            symbol: r.symbol,
            registered_at: r.registered_at,
            registered_by: r.registered_by,
        }
    }
}

/// A version row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_versions)]
pub struct VersionRow {
    pub document_id: String,
    pub number: i32,
    pub blob_sha256: String,
    pub size: i64,
    pub file_name: String,
    pub content_type: String,
    pub pdf_version: Option<String>,
    pub page_count: Option<i32>,
    pub signable: bool,
    pub signable_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    /// Why the file is rewritten clean before its first signature; None: signed as it is.
    pub normalise_reason: Option<String>,
}

/// An attachment row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = document_attachments)]
pub struct AttachmentRow {
    pub id: String,
    pub document_id: String,
    pub blob_sha256: String,
    pub size: i64,
    pub file_name: String,
    pub content_type: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

/// The Decree 30 fields sent as the `metadata` part of an upload.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// `incoming` (clerks only), `outgoing` or `internal` (a draft of the uploader).
    pub kind: Kind,
    /// Code from the managed list of document types, e.g. `QĐ`, `CV`, `TTr`.
    pub type_code: String,
    /// Trích yếu: what the document is about.
    pub subject: String,
    /// Số / ký hiệu as printed on the paper (incoming: the sender's, e.g. `12/QĐ-UBND`).
    #[serde(default)]
    pub number_symbol: Option<String>,
    /// Ngày ban hành.
    #[serde(default)]
    pub issue_date: Option<NaiveDate>,
    /// Địa danh (e.g. `Hà Nội`).
    #[serde(default)]
    pub issue_place: Option<String>,
    /// Cơ quan ban hành: the issuing organisation.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Người ký.
    #[serde(default)]
    pub signer_name: Option<String>,
    /// Chức vụ of the signer.
    #[serde(default)]
    pub signer_position: Option<String>,
    /// Nơi nhận.
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub confidentiality: Confidentiality,
    /// Hạn xử lý.
    #[serde(default)]
    pub handling_deadline: Option<NaiveDate>,
    /// When the paper arrived (incoming; default: now).
    #[serde(default)]
    pub received_at: Option<NaiveDateTime>,
    /// How it arrived: `post`, `email`, `hand`, `national_platform`, … (free text).
    #[serde(default)]
    pub received_channel: Option<String>,
    /// Số trang as declared; the PDF's own count is on each version.
    #[serde(default)]
    pub page_count: Option<i32>,
    #[serde(default)]
    pub notes: String,
}

/// A file version as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    /// 1, 2, … in upload order.
    pub number: i32,
    /// SHA-256 of the content (also the download's ETag).
    pub sha256: String,
    pub size: i64,
    pub file_name: String,
    pub content_type: String,
    /// PDF header version, e.g. `1.7`.
    pub pdf_version: Option<String>,
    /// Pages found in the file.
    pub page_count: Option<i32>,
    /// Whether a signature can be added to this file as it is.
    pub signable: bool,
    /// Why not, when not.
    pub signable_reason: Option<String>,
    /// Whether the first signature is made over a clean rewrite of this file (it has no
    /// signature yet and a hybrid cross-reference or a repaired structure): signable after
    /// normalising. Later signatures are incremental updates, as always.
    pub needs_normalising: bool,
    /// Why it needs normalising, when it does.
    pub normalise_reason: Option<String>,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

impl From<VersionRow> for Version {
    fn from(r: VersionRow) -> Self {
        Version {
            number: r.number,
            sha256: r.blob_sha256,
            size: r.size,
            file_name: r.file_name,
            content_type: r.content_type,
            pdf_version: r.pdf_version,
            page_count: r.page_count,
            signable: r.signable,
            signable_reason: r.signable_reason,
            needs_normalising: r.normalise_reason.is_some(),
            normalise_reason: r.normalise_reason,
            created_at: r.created_at,
            created_by: r.created_by,
        }
    }
}

/// An attachment as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    pub id: String,
    pub sha256: String,
    pub size: i64,
    pub file_name: String,
    pub content_type: String,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

impl From<AttachmentRow> for Attachment {
    fn from(r: AttachmentRow) -> Self {
        Attachment {
            id: r.id,
            sha256: r.blob_sha256,
            size: r.size,
            file_name: r.file_name,
            content_type: r.content_type,
            created_at: r.created_at,
            created_by: r.created_by,
        }
    }
}

/// The register entry of a registered document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Registration {
    pub register_id: String,
    /// `normal` or `confidential` (mật and above are numbered apart).
    pub series: Series,
    pub year: i32,
    pub number: i64,
    /// The symbol made from the register's template, e.g. `05/QĐ-SLĐTBXH`.
    pub symbol: String,
    #[serde(with = "crate::datetime::z")]
    pub registered_at: NaiveDateTime,
    pub registered_by: Option<String>,
}

/// A document as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Document {
    pub id: DocumentId,
    pub kind: Kind,
    pub status: Status,
    /// The registering (incoming) or drafting (outgoing) unit.
    pub unit_id: String,
    /// The uploader: the drafter of an outgoing document, the clerk of an incoming one.
    pub created_by: String,
    pub type_code: String,
    pub number_symbol: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub issue_place: Option<String>,
    pub issuer: Option<String>,
    pub subject: String,
    pub signer_name: Option<String>,
    pub signer_position: Option<String>,
    pub recipients: Vec<String>,
    pub urgency: Urgency,
    pub confidentiality: Confidentiality,
    pub handling_deadline: Option<NaiveDate>,
    #[serde(with = "crate::datetime::z_opt")]
    pub received_at: Option<NaiveDateTime>,
    pub received_channel: Option<String>,
    pub page_count: Option<i32>,
    pub notes: String,
    pub registration: Option<Registration>,
    #[serde(with = "crate::datetime::z_opt")]
    pub acknowledged_at: Option<NaiveDateTime>,
    #[serde(with = "crate::datetime::z_opt")]
    pub returned_at: Option<NaiveDateTime>,
    pub return_reason: Option<String>,
    /// What the signature check found when the document was registered (incoming electronic
    /// documents only; none: not checked).
    pub signatures_check: Option<SignaturesCheck>,
    #[serde(with = "crate::datetime::z_opt")]
    pub signatures_checked_at: Option<NaiveDateTime>,
    /// Versions of the main PDF, oldest first.
    pub versions: Vec<Version>,
    pub attachments: Vec<Attachment>,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
}

/// One line of a listing (no versions or attachments).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentSummary {
    pub id: DocumentId,
    pub kind: Kind,
    pub status: Status,
    pub unit_id: String,
    pub type_code: String,
    pub number_symbol: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub issuer: Option<String>,
    pub subject: String,
    pub urgency: Urgency,
    pub confidentiality: Confidentiality,
    pub handling_deadline: Option<NaiveDate>,
    pub registration: Option<Registration>,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
}

/// A page of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Registering a document in a register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub register_id: String,
    /// Register even though a document with the same issuer, symbol and date exists.
    #[serde(default)]
    pub confirm_duplicate: bool,
}

/// Sending an incoming document back.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Why, for the sender (e.g. "gửi nhầm địa chỉ").
    pub reason: String,
}

/// Granting a user access to a document.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub user_id: String,
}

/// A grant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Grant {
    pub user_id: String,
    pub granted_by: Option<String>,
    #[serde(with = "crate::datetime::z")]
    pub granted_at: NaiveDateTime,
}

/// A document type of the managed list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentType {
    /// Abbreviation used in symbols, e.g. `QĐ`.
    pub code: String,
    /// Full name, e.g. `Quyết định`.
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Folds Vietnamese text for diacritic-insensitive search: NFD, combining marks dropped,
/// `đ` → `d`, lower case. "Quyết định" → "quyet dinh".
pub fn fold(text: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_vietnamese_marks() {
        assert_eq!(fold("Quyết định"), "quyet dinh");
        assert_eq!(fold("ĐỀ ÁN Phát triển"), "de an phat trien");
        assert_eq!(fold("Hỏa tốc"), "hoa toc");
        assert_eq!(fold("plain"), "plain");
    }

    #[test]
    fn stored_forms_round_trip() {
        for u in Urgency::ALL {
            assert_eq!(Urgency::parse(u.as_str()), Some(*u));
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
        for c in Confidentiality::ALL {
            assert_eq!(Confidentiality::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in Kind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    /// Stored values read back as the enum through diesel, and a value that is not one of the
    /// enum's texts fails the query instead of becoming some other state (fail closed).
    #[test]
    fn stored_values_are_typed_and_unknown_ones_fail() {
        use diesel::sql_types::Text;
        use diesel::{Connection, SqliteConnection};
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for s in Status::ALL {
            let back: Status = diesel::select(s.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(back, *s);
        }
        let read =
            diesel::select(diesel::dsl::sql::<Text>("'signed'")).get_result::<Status>(&mut conn);
        let err = read.expect_err("an unknown stored status must not read as a status");
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert!(
            source
                .as_deref()
                .is_some_and(|s| s.contains("unknown stored Status")),
            "{err}: {source:?}"
        );
        let none: Option<Confidentiality> = diesel::select(diesel::dsl::sql::<
            diesel::sql_types::Nullable<Text>,
        >("NULL"))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(none, None);
    }
}

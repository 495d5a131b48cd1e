//! The handwritten-signature image of a user and the seal image of a unit: PNG checks and
//! the rows naming the file in the blob store.

use super::model::{ImageRow, Owner, SignatureImage};
use super::queries;
use super::service::unprocessable;
use crate::accounts::UserId;
use crate::audit::model::{Action, AuditContext};
use crate::audit::service as audit;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use serde_json::json;

/// Largest signature or seal image.
pub const MAX_IMAGE_BYTES: usize = 512 * 1024;
/// Largest signature or seal image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 2000;

/// Width and height of an acceptable signature or seal PNG: at most 512 KiB and
/// 2000×2000 pixels, and fully decodable (422 `signature_image_invalid` otherwise).
pub fn check_png(field: &str, bytes: &[u8]) -> Result<(u32, u32), ApiError> {
    let bad =
        |why: String| unprocessable(ErrorCode::SignatureImageInvalid, format!("{field}: {why}"));
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_IMAGE_BYTES as u64,
        });
    }
    // The header first: a huge canvas is refused before any pixel is decoded.
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let (width, height) = decoder
        .read_header_info()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?
        .size();
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(bad(format!(
            "{width}×{height} pixels; at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} is accepted"
        )));
    }
    crate::signing::appearance::png_size(field, bytes).map_err(|e| bad(e.to_string()))
}

/// A PNG put in the file store by the handler (before the transaction that names it).
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

pub(super) fn image_row(owner: &Owner, image: &StoredImage, now: NaiveDateTime) -> ImageRow {
    let (owner_user_id, owner_unit_id) = match owner {
        Owner::User(u) => (Some(u.clone()), None),
        Owner::Unit(u) => (None, Some(u.clone())),
    };
    ImageRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_user_id,
        owner_unit_id,
        sha256: image.sha256.clone(),
        size: image.size as i64,
        width: image.width as i32,
        height: image.height as i32,
        updated_at: now,
    }
}

/// Sets the caller's handwritten-signature image.
pub fn set_signature_image(
    conn: &mut DbConn,
    ctx: &AuditContext,
    user_id: &UserId,
    image: &StoredImage,
    now: NaiveDateTime,
) -> Result<SignatureImage, ApiError> {
    let row = image_row(&Owner::User(user_id.0.clone()), image, now);
    db::write_tx(conn, |conn| {
        db::insert_blob_if_missing(conn, &image.sha256, image.size as i64, now)?;
        queries::put_image(conn, &row)?;
        audit::record(
            conn,
            ctx,
            Action::SignatureImageSet,
            "user",
            Some(&user_id.0),
            json!({"sha256": image.sha256, "width": image.width, "height": image.height}),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(row.into())
}

/// The signature (user) or seal (unit) image of an owner, 404 when none is set.
pub fn get_image(conn: &mut DbConn, owner: &Owner) -> Result<ImageRow, ApiError> {
    queries::find_image(conn, owner)?.ok_or(ApiError::NotFound("signature image"))
}

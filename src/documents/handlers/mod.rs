//! HTTP handlers of documents. Thin: extract, authorise, call the service, map to a DTO.
//! Uploads are streamed to the blob store before the database transaction that refers to them.
//!
//! By area: `types.rs` document types, `create.rs` new documents, versions and attachments,
//! `read.rs` one document and the list, `files.rs` downloads, `signatures.rs` signature
//! verification, `incoming.rs` registration, acknowledgement and return, `grants.rs` grants.

mod create;
mod files;
mod grants;
mod incoming;
mod read;
mod signatures;
mod types;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(types::list_types)
        .service(types::create_type)
        .service(create::create_document)
        .service(read::list_documents)
        .service(read::get_document)
        .service(files::latest_file)
        .service(files::version_file)
        .service(signatures::latest_signatures)
        .service(signatures::version_signatures)
        .service(create::add_version)
        .service(create::add_attachment)
        .service(files::attachment_file)
        .service(incoming::register)
        .service(incoming::acknowledge)
        .service(incoming::return_document)
        .service(grants::list_grants)
        .service(grants::add_grant)
        .service(grants::remove_grant);
}

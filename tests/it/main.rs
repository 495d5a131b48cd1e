//! The integration tests, one binary: the library is linked once, and cargo-nextest runs every
//! test in its own process, in parallel (`bash tests/run.sh`). Each area is a module; helpers are
//! in `tests/common/`, generated PDFs in `tests/fixtures/pdfgen.rs`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
#[path = "../fixtures/pdfgen.rs"]
mod pdfgen;

mod api_accounts;
mod api_documents;
mod api_registers;
mod api_verify;
mod audit_chain;
mod authz_matrix;
mod backup;
mod cache;
mod cli;
mod config_docs;
mod contention;
mod crashes;
mod credentials;
mod devseed;
mod nodes;
mod notify;
mod notify_workflow;
mod openapi;
mod outages;
mod route_signing;
mod schema;
mod schemathesis;
mod signing_ltv;
mod signing_normalise;
mod signing_pades;
mod signing_reject;
mod signing_tsa;
mod stamp_appearance;
mod storage_s3;
mod verify_agrees;
mod verify_corpus;
mod verify_pyhanko;
mod visibility;
mod workflow;

//! PAdES signing and verification of PDF files: pure library code, no HTTP and no database.
//! Used by the server and by the `docflow pdf` commands.
pub mod appearance;
pub mod cli;
pub mod cms;
pub mod csc;
pub mod error;
mod http;
pub mod keys;
pub mod ltv;
pub mod normalise;
pub mod online;
pub mod options;
pub mod pdf;
mod prepare;
pub mod remote;
mod sign;
pub mod smartca;
pub mod tsa;
pub mod verify;

pub use error::SigningError;
pub use keys::{DigestSigner, ExternalSignature, KeyAlgorithm, LocalKey, Signer};
pub use options::{SignOptions, Visible};
pub use prepare::AppearanceBuilder;
pub use sign::{
    sign_bytes, sign_pdf, sign_pdf_in_place, sign_vec, sign_vec_with, signed_attributes_for,
    SignReport,
};
pub use tsa::TsaConfig;

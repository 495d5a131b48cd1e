//! PAdES signing and verification of PDF files: pure library code, no HTTP and no database.
//! Used by the server and by the `docflow pdf` commands.
pub mod appearance;
pub mod error;
pub mod verify;

pub use error::SigningError;

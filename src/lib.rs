//! docflow: back end for a paperless public office.
pub mod signing;

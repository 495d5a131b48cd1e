//! The PDF side of signing: reading the few objects needed through the xref, and writing the
//! incremental update. Free of HTTP, database and cryptography.
pub mod cost;
pub mod document;
pub mod filters;
pub mod lexer;
pub mod object;
pub mod reader;
pub mod source;
pub mod writer;
pub mod xref;

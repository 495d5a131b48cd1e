//! docflow: back end for a paperless public office.
#[macro_use]
mod text_enum;

pub mod accounts;
pub mod audit;
pub mod cache;
pub mod config;
pub mod credentials;
pub mod datetime;
pub mod db;
pub mod devseed;
pub mod documents;
pub mod error;
pub mod http;
pub mod notify;
pub mod registry;
pub mod signing;
pub mod startup;
pub mod state;
pub mod storage;
pub mod text;
pub mod vntime;
pub mod workflow;

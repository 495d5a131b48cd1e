//! Feeds arbitrary bytes through signature verification (`signing::verify::verify_pdf`: lopdf,
//! the hand-walked CMS DER, chains, revision diff). Any input must give a report or an error:
//! a panic, a hang or a stack overflow is a bug.
//!
//! cargo fuzz run --fuzz-dir tests/fuzz verify_pdf -- -max_total_time=60
#![no_main]

use docflow::signing::verify::verify_pdf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _verdict = verify_pdf(data, &[]);
});

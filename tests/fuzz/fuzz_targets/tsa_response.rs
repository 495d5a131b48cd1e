//! Arbitrary bytes as a TSA's answer: the token checks must refuse them without panicking.
//!
//! cargo fuzz run --fuzz-dir tests/fuzz tsa_response -- -max_total_time=60
#![no_main]

use docflow::signing::tsa::verify_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let imprint = [7u8; 32];
    let _ = verify_response(data, &imprint, &[1, 2, 3, 4, 5, 6, 7, 8]);
});

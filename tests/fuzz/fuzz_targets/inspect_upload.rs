//! Feeds arbitrary bytes through the check every uploaded PDF gets on arrival
//! (`documents::inspect`, lopdf plus the signer's strict reader). Any input must give facts or a
//! rejection: a panic, a hang or a stack overflow is a bug. The unguarded `inspect` is used so
//! that a panic reaches the fuzzer instead of being caught by the upload guard.
//!
//! cargo fuzz run --fuzz-dir tests/fuzz inspect_upload -- -max_total_time=60
#![no_main]

use docflow::documents::inspect::inspect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = inspect(data) {
        assert!(facts.page_count > 0, "an accepted PDF has pages");
        assert_eq!(
            facts.signable,
            facts.signable_reason.is_none(),
            "a reason is given exactly when the file cannot be signed"
        );
    }
});

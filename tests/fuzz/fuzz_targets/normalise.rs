//! Feeds arbitrary bytes to `signing::normalise`, the rewrite of an unsigned draft before its
//! first signature. Any input must give a clean file or a refusal: a panic, a hang or a memory
//! blow-up is a bug. A rewrite must end in `%%EOF`, and rewriting it again must not change it.
//!
//! cargo fuzz run --fuzz-dir tests/fuzz normalise -- -max_total_time=60
#![no_main]

use docflow::signing::normalise::normalise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = normalise(data) {
        assert!(n.bytes.ends_with(b"%%EOF\n"), "a rewrite ends its one revision");
        let again = normalise(&n.bytes).expect("a rewrite normalises again");
        assert_eq!(again.bytes, n.bytes, "normalising is idempotent");
    }
});

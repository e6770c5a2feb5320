//! The upload inspector reads the first bytes of anything a client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime::envelope::Algorithms;

fuzz_target!(|data: &[u8]| {
    if let Ok(found) = smime::inspect::inspect(data) {
        assert!(found.ciphertext_offset + found.ciphertext_len <= found.total_len);
        let end = usize::try_from(found.ciphertext_offset + found.ciphertext_len).unwrap_or(usize::MAX);
        let _ = found.check_trailer(data.get(end..).unwrap_or_default());
        let _ = found.check_policy(Algorithms::default(), &[]);
        let _ = found.trailer_len();
    }
});

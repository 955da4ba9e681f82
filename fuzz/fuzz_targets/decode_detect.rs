//! Arbitrary bytes as NDJSON lines: decode, then detect, with the
//! detector's invariants checked after every event (`kawal::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kawal::fuzz::decode_then_detect(data);
});

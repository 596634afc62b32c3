//! IDX parsing (raw and gzip): any bytes give a data set or a typed error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    octet::fuzzing::idx(data);
});

#![no_main]
//! Fuzz target: see voxdial::campaign::import::fuzzing.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::campaign::import::fuzzing(data);
});

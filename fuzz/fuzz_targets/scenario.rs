#![no_main]
//! Fuzz target: see voxdial::scenario::fuzzing::load.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::scenario::fuzzing::load(data);
});

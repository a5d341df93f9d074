#![no_main]
//! Fuzz target: see voxdial::sip::fuzzing::sipfrag.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::sip::fuzzing::sipfrag(data);
});

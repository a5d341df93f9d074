#![no_main]
//! Fuzz target: see voxdial::sip::fuzzing::sip_uri.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::sip::fuzzing::sip_uri(data);
});

//! Lets the binaries, tests and benches find the sherpa-onnx shared libraries at run
//! time: next to the executable (sherpa-onnx-sys copies them into the profile folder),
//! one folder up (tests and benches live in `deps/`), and where they were linked from.
fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_ONNX_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_SPEECH").is_none() {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:$ORIGIN/..");
    if let Some(dir) = std::env::var_os("SHERPA_ONNX_LIB_DIR") {
        println!(
            "cargo:rustc-link-arg=-Wl,-rpath,{}",
            std::path::Path::new(&dir).display()
        );
    }
}

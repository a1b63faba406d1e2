//! Links the GCC unwinder into `jts-provision` instead of loading `libgcc_s.so.1` at
//! every start.
//!
//! Rust's standard library asks for `libgcc_s` on `*-linux-gnu` for its unwinder (panics,
//! backtraces). Loading and relocating one more shared library is about a tenth of the
//! start-up of a short command such as `health`, run every minute by its timer. The static
//! archive `libgcc_eh.a` from the same GCC holds the same unwinder; pulled in whole ahead
//! of the standard library, it defines every symbol `libgcc_s` would have, so the linker
//! (which runs with `--as-needed`) drops `libgcc_s`. This is GCC's own `-static-libgcc`
//! choice: sound as long as no exception crosses into another shared library, and none
//! does here. glibc stays dynamic (NSS, security updates).
//!
//! A `crt-static` build already links the unwinder statically, and other targets do not
//! use `libgcc_s`: nothing is asked then.

use std::env;

fn main() {
    let gnu_linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|target_env| target_env == "gnu");
    let crt_static = env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|feature| feature == "crt-static"));
    if gnu_linux && !crt_static {
        println!("cargo::rustc-link-lib=static:+whole-archive=gcc_eh");
    }
}

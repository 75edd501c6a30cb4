//! The `.train.toml` loader on arbitrary bytes: an error or a configuration, never
//! a panic; an error always names the file.
#![no_main]

use std::path::Path;

use git_train::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Config::parse(Path::new(".train.toml"), data) {
        assert!(e.to_string().starts_with(".train.toml"));
    }
});

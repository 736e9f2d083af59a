//! Embeds every file of `templates/` and `images/` (and `data/`) by listing the directories, so
//! adding a template or a base image is adding a file: no name is kept by hand in the code.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut out = String::new();
    for (konst, dir, suffix) in [
        ("TEMPLATES", "templates", ".tera"),
        ("IMAGES", "images", ".yaml"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let mut names: Vec<String> = std::fs::read_dir(Path::new(&root).join(dir))
            .unwrap_or_else(|e| panic!("{dir}/: cannot list ({e})"))
            .map(|entry| entry.expect("a readable directory entry").file_name())
            .filter_map(|name| name.into_string().ok())
            .filter(|name| name.ends_with(suffix))
            .collect();
        names.sort();
        writeln!(
            out,
            "/// Every `{dir}/*{suffix}` file: (name without `{suffix}`, text)."
        )
        .unwrap();
        writeln!(out, "pub const {konst}: &[(&str, &str)] = &[").unwrap();
        for name in names {
            let stem = name.strip_suffix(suffix).unwrap_or(&name);
            writeln!(
                out,
                "    ({stem:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{dir}/{name}\"))),"
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

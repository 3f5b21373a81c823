//! Generates the FFI declarations for the part of libxml2 and libxmlsec1 (OpenSSL backend)
//! this crate calls, from the headers installed on the machine (so struct layouts always
//! match the library that is linked), and links those libraries via pkg-config.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/xmlsec.h");
    println!("cargo:rerun-if-changed=build.rs");
    let library = match pkg_config::Config::new().probe("xmlsec1-openssl") {
        Ok(library) => library,
        Err(e) => {
            println!(
                "cargo:warning=libxmlsec1 (OpenSSL) not found by pkg-config: install libxmlsec1-dev (scripts/deps.sh does): {e}"
            );
            std::process::exit(1);
        }
    };
    let mut clang_args: Vec<String> = library
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();
    for (name, value) in &library.defines {
        clang_args.push(match value {
            Some(v) => format!("-D{name}={v}"),
            None => format!("-D{name}"),
        });
    }
    let bindings = bindgen::Builder::default()
        .header("src/xmlsec.h")
        .clang_args(clang_args)
        .allowlist_function("xmlSec.*")
        .allowlist_function(
            "xmlReadMemory|xmlFreeDoc|xmlDocGetRootElement|xmlAddID|xmlValidateNCName|xmlSetStructuredErrorFunc",
        )
        .allowlist_var("XMLSEC_.*|xmlSec.*Ns|xmlSecNode.*|xmlSecTransformUriType.*")
        .allowlist_type("xmlSecDSigStatus|xmlParserOption|xmlElementType")
        .layout_tests(false)
        .generate_comments(false)
        .generate();
    let bindings = match bindings {
        Ok(b) => b,
        Err(e) => {
            println!("cargo:warning=could not generate the libxmlsec1 bindings: {e}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("xmlsec.rs");
    if let Err(e) = bindings.write_to_file(&out) {
        println!("cargo:warning=could not write {}: {e}", out.display());
        std::process::exit(1);
    }
}

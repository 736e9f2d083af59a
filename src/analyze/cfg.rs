//! `#[cfg_attr(predicate, attr, ...)]` as a release build for Linux sees it: the attributes
//! whose predicate holds there, so a clap `arg(...)` written per target is read as on the image.

use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token};

/// `attrs` with each `cfg_attr` replaced by its attributes when its predicate holds for a
/// release build on Linux, and dropped when it does not.
pub fn active(attrs: &[Attribute]) -> Vec<Attribute> {
    let mut out = Vec::new();
    for a in attrs {
        if !a.path().is_ident("cfg_attr") {
            out.push(a.clone());
            continue;
        }
        let Ok(parts) = a.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
            continue;
        };
        let mut parts = parts.into_iter();
        if !parts.next().is_some_and(|p| holds(&p)) {
            continue;
        }
        let inner: Vec<Attribute> = parts.map(|meta| syn::parse_quote!(#[#meta])).collect();
        out.extend(active(&inner));
    }
    out
}

/// Whether a `cfg` predicate holds for a release build on Linux; what cannot be known (a
/// feature, an architecture) holds.
fn holds(p: &Meta) -> bool {
    let name = p
        .path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    match p {
        Meta::Path(_) => !matches!(
            name.as_str(),
            "windows" | "test" | "debug_assertions" | "miri"
        ),
        Meta::NameValue(nv) => {
            let value = match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => s.value(),
                _ => return true,
            };
            match name.as_str() {
                "target_family" => value == "unix",
                "target_os" => value == "linux",
                "target_env" => value == "gnu" || value == "musl",
                _ => true,
            }
        }
        Meta::List(l) => {
            let Ok(inner) = l.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            else {
                return true;
            };
            match name.as_str() {
                "not" => !inner.iter().all(holds),
                "any" => inner.iter().any(holds),
                "all" => inner.iter().all(holds),
                _ => true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::active;

    fn names(src: &str) -> Vec<String> {
        let item: syn::ItemStruct = syn::parse_str(src).unwrap();
        let field = item.fields.iter().next().unwrap();
        active(&field.attrs)
            .iter()
            .map(|a| quote::ToTokens::to_token_stream(a).to_string())
            .collect()
    }

    #[test]
    fn the_linux_branch_of_a_per_target_attribute_is_kept() {
        let src = r#"struct Cli {
            #[cfg_attr(not(target_family = "wasm"), arg(long, default_value = "1"))]
            #[cfg_attr(target_family = "wasm", arg(long, default_value = "2"))]
            #[cfg_attr(windows, arg(long))]
            #[cfg_attr(all(unix, feature = "x"), cfg_attr(test, arg(short)), doc = "n")]
            n: usize,
        }"#;
        assert_eq!(
            names(src),
            ["# [arg (long , default_value = \"1\")]", "# [doc = \"n\"]"]
        );
    }
}

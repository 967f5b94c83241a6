//! Names the macros derive: service names, method ids, printable type names.

use quote::ToTokens;

/// `HttpServer` → `http-server`, `MyAPI` → `my-api`, `Calc2` → `calc2`.
pub(crate) fn kebab_case(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            out.push('-');
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev != '_'
                && (prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next_is_lower))
            {
                out.push('-');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The wire id of a method: 32-bit FNV-1a of its name.
/// Must agree with `titan_core::MethodId::of`; both are tested against the same vectors.
pub(crate) fn method_id(name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// A type as a person would write it: `Vec<String>`, not `Vec < String >`.
pub(crate) fn type_name(ty: &impl ToTokens) -> String {
    let raw = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let glue_prev = matches!(prev, Some('<' | '(' | '[' | '&' | ':'));
            let glue_next = matches!(next, Some('<' | '>' | ')' | ']' | ',' | ':' | ';'));
            if glue_prev || glue_next {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_splits_words() {
        assert_eq!(kebab_case("Calculator"), "calculator");
        assert_eq!(kebab_case("HttpServer"), "http-server");
        assert_eq!(kebab_case("MyAPI"), "my-api");
        assert_eq!(kebab_case("APIServer"), "api-server");
        assert_eq!(kebab_case("Calc2"), "calc2");
        assert_eq!(kebab_case("snake_case"), "snake-case");
    }

    #[test]
    fn method_id_is_fnv1a() {
        assert_eq!(method_id(""), 0x811c_9dc5);
        assert_eq!(method_id("a"), 0xe40c_292c);
        assert_eq!(method_id("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn type_names_read_naturally() {
        let ty: syn::Type = syn::parse_quote!(std::collections::HashMap<String, Vec<u8>>);
        assert_eq!(type_name(&ty), "std::collections::HashMap<String, Vec<u8>>");
        let ty: syn::Type = syn::parse_quote!((i64, Option<String>));
        assert_eq!(type_name(&ty), "(i64, Option<String>)");
        let ty: syn::Type = syn::parse_quote!([u8; 4]);
        assert_eq!(type_name(&ty), "[u8; 4]");
    }
}

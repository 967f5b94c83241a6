//! `#[process]`: parse → validate → expand.

mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::quote;

/// Expands `#[process(args)] item`. On any error, emits the item unchanged (less
/// Titan's own marker attributes) beside the errors, so IDEs keep completing.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let raw = match parse::parse(args, item) {
        Ok(raw) => raw,
        Err(rejected) => return rejected,
    };
    match validate::validate(&raw) {
        Ok(service) => {
            let item = &raw.item;
            let generated = expand::expand(&service);
            quote! {
                #item
                #generated
            }
        }
        Err(diagnostics) => {
            let item = &raw.item;
            let errors = diagnostics.into_tokens();
            quote! {
                #item
                #errors
            }
        }
    }
}

/// `#[public]` or `#[init]` where no `#[process]` consumed it.
pub(crate) fn misplaced(attribute: &str, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{attribute}]` only has an effect on a method inside an `impl` block marked `#[process]`; \
         add `#[process]` to the `impl` block (and make sure it is the inherent impl of your type)"
    );
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote! {
        #item
        #error
    }
}

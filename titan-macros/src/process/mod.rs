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

/// `#[public]`, `#[init]`, `#[health_check]` or `#[on_shutdown]` where no
/// `#[process]` consumed it. `#[key]`s on the function's arguments are taken
/// off, so the compiler does not add an error of its own about them.
pub(crate) fn misplaced(attribute: &str, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{attribute}]` only has an effect on a method inside an `impl` block marked `#[process]`; \
         add `#[process]` to the `impl` block (and make sure it is the inherent impl of your type)"
    );
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    let item = match syn::parse2::<syn::ImplItemFn>(item.clone()) {
        Ok(mut function) => {
            parse::take_keys(&mut function.sig);
            quote!(#function)
        }
        Err(_) => item,
    };
    quote! {
        #item
        #error
    }
}

/// `#[key]` where no `#[process]` consumed it: on an item rather than on an
/// argument of a `#[public]` method. (On an argument elsewhere the compiler
/// itself rejects it, since attribute macros cannot go there.)
pub(crate) fn misplaced_key(item: TokenStream) -> TokenStream {
    let message = "`#[key]` goes on one argument of a `#[public]` method inside an `impl` block marked `#[process]`, \
                   like `async fn get(&self, #[key] user: String)`: calls with equal values of it reach the same worker \
                   of a pool that balances by key";
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote! {
        #item
        #error
    }
}

//! `#[titan_core::main]`: parse the options, check the function, wrap its body.

use darling::FromMeta;
use darling::util::SpannedValue;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::diagnostics::Diagnostics;

/// The options of `#[titan_core::main(...)]`.
#[derive(Debug, Default, FromMeta)]
struct MainArgs {
    /// `"multi_thread"` (default) or `"current_thread"`.
    flavor: Option<SpannedValue<String>>,
    /// Worker threads of the multi-threaded scheduler.
    worker_threads: Option<SpannedValue<usize>>,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[titan_core::main]` goes on the program's entry function, not on this item: \
                 put it on `async fn main() { ... }`",
            )
            .to_compile_error();
            return quote! { #item #error };
        }
    };

    let mut diag = Diagnostics::default();
    let options = crate::diagnostics::parse_options::<MainArgs>(
        args,
        "titan_core::main",
        &["flavor", "worker_threads"],
        "flavor = \"current_thread\"",
    )
    .unwrap_or_else(|error| {
        diag.push_darling(error);
        MainArgs::default()
    });

    // A function of the wrong shape is emitted unchanged beside its errors.
    // Wrong options alone still wrap the function (with a fallback flavor), so
    // the user sees only the options' errors, not rustc's "`main` cannot be async".
    let errors_before_shape = diag.len();
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        diag.error(
            sig.fn_token,
            "`#[titan_core::main]` needs an `async fn`: write `async fn main()`",
        );
    }
    if !sig.inputs.is_empty() {
        diag.error(
            &sig.inputs,
            "`main` takes no arguments; read them with `std::env::args()`",
        );
    }
    if !sig.generics.params.is_empty() {
        diag.error(
            &sig.generics,
            "`main` cannot be generic: remove the generic parameters",
        );
    }

    let shape_ok = diag.len() == errors_before_shape;

    let current_thread = match &options.flavor {
        None => false,
        Some(flavor) => match flavor.as_str() {
            "multi_thread" => false,
            "current_thread" => true,
            other => {
                diag.error_at(
                    flavor.span(),
                    format!("unknown flavor `{other}`: use \"multi_thread\" or \"current_thread\""),
                );
                false
            }
        },
    };
    let flavor = match (&options.worker_threads, current_thread) {
        (Some(threads), true) => {
            diag.error_at(
                threads.span(),
                "`worker_threads` applies to the multi-threaded scheduler only; remove it or drop `flavor = \"current_thread\"`",
            );
            quote!(::titan_core::__private::Flavor::CurrentThread)
        }
        (Some(threads), false) if **threads == 0 => {
            diag.error_at(threads.span(), "`worker_threads` must be at least 1");
            quote!(::titan_core::__private::Flavor::CurrentThread)
        }
        (Some(threads), false) => {
            let threads = **threads;
            quote!(::titan_core::__private::Flavor::MultiThread {
                worker_threads: ::core::option::Option::Some(#threads),
            })
        }
        (None, true) => quote!(::titan_core::__private::Flavor::CurrentThread),
        (None, false) => quote!(::titan_core::__private::Flavor::MultiThread {
            worker_threads: ::core::option::Option::None,
        }),
    };

    if !shape_ok {
        // Keep the user's function, type-checked, nested in a plain `fn main() {}`,
        // so rustc adds no errors of its own about how `main` looks.
        let errors = diag.into_tokens();
        let ItemFn { vis, sig, .. } = &function;
        let ident = &sig.ident;
        return quote! {
            #vis fn #ident() {
                #[allow(dead_code)]
                #function
            }
            #errors
        };
    }
    let errors = diag.into_tokens();

    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = function;
    sig.asyncness = None;
    quote! {
        #(#attrs)*
        #vis #sig {
            let body = async #block;
            ::titan_core::__private::run(#flavor, body)
        }
        #errors
    }
}

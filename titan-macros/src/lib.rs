//! Attribute macros for Titan. Use them through `titan_core` (`use titan_core::prelude::*`),
//! which re-exports them beside the runtime they expand to.
//!
//! Each macro reads its input in three steps, kept in separate modules:
//! `parse` (syntax into plain structs, attribute options through darling),
//! `validate` (every rule checked, every violation collected with the span of
//! the offending token) and `expand` (code generation from the validated model
//! only). Generated code names the runtime only through `::titan_core::__private`.

#![warn(missing_docs, unreachable_pub)]

use proc_macro::TokenStream;

mod diagnostics;
mod duration;
mod entry;
mod names;
mod process;

/// Turns an inherent `impl` block into a process. Documented on `titan_core::process`.
#[proc_macro_attribute]
pub fn process(args: TokenStream, item: TokenStream) -> TokenStream {
    process::expand(args.into(), item.into()).into()
}

/// Marks a method of a `#[process]` impl block as public. Documented on `titan_core::public`.
#[proc_macro_attribute]
pub fn public(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced("public", item.into()).into()
}

/// Marks the constructor of a process. Documented on `titan_core::init`.
#[proc_macro_attribute]
pub fn init(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced("init", item.into()).into()
}

/// Marks a method of a `#[process]` impl block as a health check. Documented on
/// `titan_core::health_check`.
#[proc_macro_attribute]
pub fn health_check(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced("health_check", item.into()).into()
}

/// Marks the method a process runs when it stops. Documented on `titan_core::on_shutdown`.
#[proc_macro_attribute]
pub fn on_shutdown(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced("on_shutdown", item.into()).into()
}

/// Marks the argument a call is routed by. Documented on `titan_core::key`;
/// `#[process]` consumes it, so this only runs where it is misplaced.
#[proc_macro_attribute]
pub fn key(_args: TokenStream, item: TokenStream) -> TokenStream {
    process::misplaced_key(item.into()).into()
}

/// Runs `async fn main` on a tokio runtime. Documented on `titan_core::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(args.into(), item.into()).into()
}

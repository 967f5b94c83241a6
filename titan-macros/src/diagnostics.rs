//! Collects every error of one macro invocation, so the user sees all of them in one build.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Errors found so far, each already carrying its span.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Vec<TokenStream>,
}

impl Diagnostics {
    /// Records an error at the span of `tokens`.
    pub(crate) fn error(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn error_at(&mut self, span: proc_macro2::Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error.to_compile_error());
    }

    pub(crate) fn push_darling(&mut self, error: darling::Error) {
        self.errors.push(error.write_errors());
    }

    pub(crate) fn len(&self) -> usize {
        self.errors.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The `compile_error!`s for everything recorded.
    pub(crate) fn into_tokens(self) -> TokenStream {
        self.errors.into_iter().collect()
    }
}

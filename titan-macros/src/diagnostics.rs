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

/// Parses the options of `#[attribute(...)]` with darling. darling's own
/// messages are kept (an unknown option gets "did you mean" or the list of
/// options); a bare literal (`#[process("calc")]`), which darling reports as
/// "Unexpected meta-item format", gets one that says options are `key = value`.
pub(crate) fn parse_options<T: darling::FromMeta>(
    args: TokenStream,
    attribute: &str,
    options: &[&str],
    example: &str,
) -> darling::Result<T> {
    let items = darling::ast::NestedMeta::parse_meta_list(args)?;
    let known = list(options);
    let (literals, metas): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|item| matches!(item, darling::ast::NestedMeta::Lit(_)));
    let mut errors: Vec<darling::Error> = literals
        .iter()
        .map(|literal| {
            darling::Error::from(syn::Error::new_spanned(
                literal,
                format!(
                    "`#[{attribute}]` options are written `key = value`, like `{example}`; \
                     the options are {known}"
                ),
            ))
        })
        .collect();
    match T::from_list(&metas) {
        Ok(parsed) if errors.is_empty() => Ok(parsed),
        Ok(_) => Err(darling::Error::multiple(errors)),
        Err(error) => {
            errors.push(error);
            Err(darling::Error::multiple(errors))
        }
    }
}

/// "`a`, `b` and `c`".
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.split_last() {
        None => String::from("none"),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

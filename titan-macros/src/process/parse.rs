//! Parsing: the attribute's options (darling) and the impl block's shape (syn),
//! with Titan's marker attributes taken off the item. No rule is checked here
//! beyond "is this an impl block at all"; `validate` checks the rest.

use darling::FromMeta;
use darling::util::SpannedValue;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, Item, ItemImpl, Signature};

/// The options of `#[process(...)]`.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct ProcessArgs {
    /// The service name; default: the type name in kebab-case.
    pub(crate) name: Option<SpannedValue<String>>,
    /// The service version, semver; default `0.1.0`.
    pub(crate) version: Option<SpannedValue<String>>,
    /// What the service does; default: the impl block's doc comment.
    pub(crate) description: Option<String>,
}

/// Which Titan marker an attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerKind {
    Public,
    Init,
}

impl MarkerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MarkerKind::Public => "public",
            MarkerKind::Init => "init",
        }
    }
}

/// A Titan marker attribute found on a method.
pub(crate) struct Marker {
    pub(crate) kind: MarkerKind,
    pub(crate) attr: Attribute,
}

/// A function in the impl block, with its markers.
pub(crate) struct RawMethod {
    pub(crate) markers: Vec<Marker>,
    pub(crate) vis: syn::Visibility,
    pub(crate) sig: Signature,
    pub(crate) docs: Vec<Attribute>,
}

/// The parsed input of `#[process]`.
pub(crate) struct RawProcess {
    pub(crate) args: ProcessArgs,
    /// Problems with the options, reported by `validate` with the others.
    pub(crate) args_error: Option<darling::Error>,
    /// The impl block, markers removed: what is emitted back.
    pub(crate) item: ItemImpl,
    pub(crate) methods: Vec<RawMethod>,
}

/// Parses the macro input. An input that is not an impl block is rejected here:
/// the error comes back with the original item.
pub(crate) fn parse(args: TokenStream, item: TokenStream) -> Result<RawProcess, TokenStream> {
    let mut item_impl = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Impl(item_impl)) => item_impl,
        Ok(other) => return Err(reject(&other, item)),
        Err(error) => {
            let error = error.to_compile_error();
            return Err(quote! { #item #error });
        }
    };

    let (args, args_error) = match parse_args(args) {
        Ok(args) => (args, None),
        Err(error) => (ProcessArgs::default(), Some(error)),
    };

    let mut methods = Vec::new();
    for impl_item in &mut item_impl.items {
        if let ImplItem::Fn(function) = impl_item {
            let markers = take_markers(&mut function.attrs);
            let docs = function
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("doc"))
                .cloned()
                .collect();
            methods.push(RawMethod {
                markers,
                vis: function.vis.clone(),
                sig: function.sig.clone(),
                docs,
            });
        }
    }

    Ok(RawProcess {
        args,
        args_error,
        item: item_impl,
        methods,
    })
}

fn parse_args(args: TokenStream) -> Result<ProcessArgs, darling::Error> {
    crate::diagnostics::parse_options(
        args,
        "process",
        &["name", "version", "description"],
        "name = \"calculator\"",
    )
}

/// Removes Titan's marker attributes from `attrs` and returns them.
fn take_markers(attrs: &mut Vec<Attribute>) -> Vec<Marker> {
    let mut markers = Vec::new();
    attrs.retain(|attr| match marker_kind(attr) {
        Some(kind) => {
            markers.push(Marker {
                kind,
                attr: attr.clone(),
            });
            false
        }
        None => true,
    });
    markers
}

/// `#[public]`, `#[titan_core::public]`, and the same for `init`.
fn marker_kind(attr: &Attribute) -> Option<MarkerKind> {
    let path = attr.path();
    let last = path.segments.last()?;
    let qualified_ok = path.segments.len() == 1
        || (path.segments.len() == 2 && path.segments[0].ident == "titan_core");
    if !qualified_ok {
        return None;
    }
    if last.ident == "public" {
        Some(MarkerKind::Public)
    } else if last.ident == "init" {
        Some(MarkerKind::Init)
    } else {
        None
    }
}

/// The error for `#[process]` on something other than an impl block.
fn reject(item: &Item, original: TokenStream) -> TokenStream {
    const TAIL: &str = "mark its interface with `#[public]`";
    let (span, message) = match item {
        Item::Struct(s) => (
            s.struct_token.span(),
            format!(
                "not on a struct: put it on `impl {} {{ ... }}` and {TAIL}",
                s.ident
            ),
        ),
        Item::Enum(e) => (
            e.enum_token.span(),
            format!(
                "not on an enum: put it on `impl {} {{ ... }}` and {TAIL}",
                e.ident
            ),
        ),
        Item::Trait(t) => (
            t.trait_token.span(),
            format!(
                "not on a trait: a process is a concrete type; put it on `impl YourType {{ ... }}` \
                 and give that block `#[public]` methods (they may call `{}`'s)",
                t.ident
            ),
        ),
        Item::Fn(f) => (
            f.sig.fn_token.span(),
            format!(
                "not on a function: move `{}` into `#[process] impl YourType {{ ... }}` \
                 as a `#[public]` method taking `&self`",
                f.sig.ident
            ),
        ),
        other => (
            other.span(),
            format!("not on this item: put it on `impl YourType {{ ... }}` and {TAIL}"),
        ),
    };
    let message = format!("`#[process]` goes on the inherent `impl` block of a type, {message}");
    let error = syn::Error::new(span, message).to_compile_error();
    let original = original.into_token_stream();
    quote! { #original #error }
}

//! Parsing: the attribute's options (darling) and the impl block's shape (syn),
//! with Titan's marker attributes (on methods) and `#[key]` (on arguments) taken
//! off the item. No rule is checked here beyond "is this an impl block at all";
//! `validate` checks the rest.

use darling::FromMeta;
use darling::util::SpannedValue;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ImplItem, Item, ItemImpl, Meta, Signature};

use crate::duration::DurationOption;

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

/// The options of `#[health_check(...)]`, as written; `validate` reads them.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct HealthCheckArgs {
    /// `"liveness"` (default), `"readiness"` or `"startup"`.
    pub(crate) kind: Option<KindOption>,
    /// How often the check is probed; default `"10s"`.
    pub(crate) interval: Option<DurationOption>,
    /// How long a probe may take; default `"1s"`.
    pub(crate) timeout: Option<DurationOption>,
    /// Failures in a row that fail the check; default 3.
    pub(crate) failure_threshold: Option<SpannedValue<u32>>,
}

/// The options `#[health_check]` takes, for messages.
pub(crate) const HEALTH_CHECK_OPTIONS: &[&str] =
    &["kind", "interval", "timeout", "failure_threshold"];

/// `kind = "readiness"` as written: the string and where it is.
#[derive(Debug, Clone)]
pub(crate) struct KindOption {
    pub(crate) text: String,
    pub(crate) span: proc_macro2::Span,
}

impl FromMeta for KindOption {
    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        match expr {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Ok(KindOption {
                text: text.value(),
                span: text.span(),
            }),
            syn::Expr::Group(group) => Self::from_expr(&group.expr),
            other => Err(darling::Error::custom(
                "write the kind as a string: `kind = \"liveness\"`, `\"readiness\"` or `\"startup\"`",
            )
            .with_span(other)),
        }
    }
}

/// Which Titan marker an attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerKind {
    Public,
    Init,
    HealthCheck,
    OnShutdown,
}

impl MarkerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MarkerKind::Public => "public",
            MarkerKind::Init => "init",
            MarkerKind::HealthCheck => "health_check",
            MarkerKind::OnShutdown => "on_shutdown",
        }
    }
}

/// A Titan marker attribute found on a method.
pub(crate) struct Marker {
    pub(crate) kind: MarkerKind,
    pub(crate) attr: Attribute,
    /// For `#[health_check]`: its options, or what is wrong with them.
    pub(crate) health: Option<darling::Result<HealthCheckArgs>>,
}

/// A `#[key]` found on an argument.
pub(crate) struct KeyMarker {
    /// The argument's position in the signature's inputs (`self` counts).
    pub(crate) input: usize,
    pub(crate) attr: Attribute,
}

/// A function in the impl block, with its markers.
pub(crate) struct RawMethod {
    pub(crate) markers: Vec<Marker>,
    /// `#[key]`s on its arguments, taken off the signature.
    pub(crate) keys: Vec<KeyMarker>,
    /// `#[key]`s on the function itself, where they do not belong.
    pub(crate) misplaced_keys: Vec<Attribute>,
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
            let keys = take_keys(&mut function.sig);
            let mut misplaced_keys = Vec::new();
            function.attrs.retain(|attr| {
                let key = is_titan_attr(attr, "key");
                if key {
                    misplaced_keys.push(attr.clone());
                }
                !key
            });
            let docs = function
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("doc"))
                .cloned()
                .collect();
            methods.push(RawMethod {
                markers,
                keys,
                misplaced_keys,
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
            let health = (kind == MarkerKind::HealthCheck).then(|| health_check_args(attr));
            markers.push(Marker {
                kind,
                attr: attr.clone(),
                health,
            });
            false
        }
        None => true,
    });
    markers
}

/// Removes `#[key]` from the arguments of `sig` (wherever it is: `validate`
/// decides whether it belongs there) and returns where each one was.
pub(crate) fn take_keys(sig: &mut Signature) -> Vec<KeyMarker> {
    let mut keys = Vec::new();
    for (input, arg) in sig.inputs.iter_mut().enumerate() {
        let attrs = match arg {
            FnArg::Receiver(receiver) => &mut receiver.attrs,
            FnArg::Typed(pat_type) => &mut pat_type.attrs,
        };
        attrs.retain(|attr| {
            if is_titan_attr(attr, "key") {
                keys.push(KeyMarker {
                    input,
                    attr: attr.clone(),
                });
                false
            } else {
                true
            }
        });
    }
    keys
}

/// The options of one `#[health_check]`: none for the bare attribute.
fn health_check_args(attr: &Attribute) -> darling::Result<HealthCheckArgs> {
    match &attr.meta {
        Meta::Path(_) => Ok(HealthCheckArgs::default()),
        Meta::List(list) => crate::diagnostics::parse_options(
            list.tokens.clone(),
            "health_check",
            HEALTH_CHECK_OPTIONS,
            "kind = \"readiness\"",
        ),
        Meta::NameValue(name_value) => Err(darling::Error::custom(
            "`#[health_check]` options go in parentheses: \
             `#[health_check(kind = \"readiness\", interval = \"10s\")]`",
        )
        .with_span(&name_value.value)),
    }
}

/// `#[public]`, `#[titan_core::public]`, and the same for the other markers.
fn marker_kind(attr: &Attribute) -> Option<MarkerKind> {
    [
        MarkerKind::Public,
        MarkerKind::Init,
        MarkerKind::HealthCheck,
        MarkerKind::OnShutdown,
    ]
    .into_iter()
    .find(|kind| is_titan_attr(attr, kind.name()))
}

/// `#[name]` or `#[titan_core::name]`.
fn is_titan_attr(attr: &Attribute, name: &str) -> bool {
    let path = attr.path();
    let qualified_ok = path.segments.len() == 1
        || (path.segments.len() == 2 && path.segments[0].ident == "titan_core");
    qualified_ok && path.segments.last().is_some_and(|last| last.ident == name)
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

//! Validation: every rule a process must follow, checked on the parsed input.
//! Each violation is recorded at the span of the token at fault, with a message
//! that says how to fix it; all of them are reported together.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::spanned::Spanned;
use syn::{
    Expr, FnArg, GenericArgument, Lit, Meta, Pat, PathArguments, ReceiverKind, ReturnType,
    Signature, Type,
};

use super::model::{Arg, Init, Method, OnShutdown, Output, Service};
use super::parse::{HealthCheckArgs, Marker, MarkerKind, RawMethod, RawProcess};
use crate::diagnostics::Diagnostics;
use crate::names;

mod hooks;

/// Checks `raw` and builds the model `expand` reads.
pub(crate) fn validate(raw: &RawProcess) -> Result<Service, Diagnostics> {
    let mut diag = Diagnostics::default();
    if let Some(error) = &raw.args_error {
        diag.push_darling(error.clone());
    }

    let item = &raw.item;
    if let Some((path, _)) = &item.trait_ {
        diag.error(
            path,
            format!(
                "`#[process]` goes on the inherent `impl` block of a type, not on a trait impl: \
                 put it on `impl {ty} {{ ... }}` and add `#[public]` methods there (they may call the trait's)",
                ty = names::type_name(&item.self_ty)
            ),
        );
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        diag.error(
            &item.generics,
            "a process type cannot be generic: its proxy and wire format are fixed at compile time; \
             define a concrete type (a newtype or a type alias) and put `#[process]` on its impl block",
        );
    }
    if let Some(unsafety) = &item.unsafety {
        diag.error(unsafety, "`#[process]` cannot be used on an `unsafe impl`");
    }

    let type_ident = match &*item.self_ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.clone())
        }
        _ => None,
    };
    let Some(type_ident) = type_ident else {
        diag.error(
            &item.self_ty,
            "`#[process]` needs a named type here, like `impl Calculator { ... }`",
        );
        return Err(diag);
    };

    let name = match &raw.args.name {
        Some(name) => {
            if !valid_service_name(name) {
                diag.error_at(
                    name.span(),
                    format!(
                        "`{}` is not a valid service name: use lowercase letters, digits, `-`, `_` and `.`, starting with a letter",
                        name.as_str()
                    ),
                );
            }
            name.as_str().to_owned()
        }
        None => names::kebab_case(&type_ident.to_string()),
    };

    let version = match &raw.args.version {
        Some(version) => {
            if let Err(error) = semver::Version::parse(version.as_str()) {
                diag.error_at(
                    version.span(),
                    format!(
                        "`{}` is not a semantic version ({error}): write it as MAJOR.MINOR.PATCH, e.g. `version = \"1.0.0\"`",
                        version.as_str()
                    ),
                );
            }
            version.as_str().to_owned()
        }
        None => String::from("0.1.0"),
    };

    let description = raw
        .args
        .description
        .clone()
        .unwrap_or_else(|| doc_text(&item.attrs));

    let mut methods = Vec::new();
    let mut init: Option<Init> = None;
    let mut health_checks = Vec::new();
    let mut on_shutdown: Option<OnShutdown> = None;
    // The first `#[on_shutdown]`, valid or not: any other is one too many.
    let mut first_hook: Option<&syn::Ident> = None;
    for method in &raw.methods {
        for attr in &method.misplaced_keys {
            diag.error(
                attr,
                format!(
                    "`#[key]` goes on one argument of a `#[public]` method, not on the method itself: \
                     write `fn {}(&self, #[key] user: String, ...)`",
                    method.sig.ident
                ),
            );
        }
        check_marker_options(method, &mut diag);
        let Some(role) = role(method, &mut diag) else {
            continue;
        };
        if !matches!(role, Role::Public) {
            reject_keys(method, role, &mut diag);
        }
        match role {
            Role::Public => {
                if let Some(method) = check_method(method, &item.self_ty, &mut diag) {
                    methods.push(method);
                }
            }
            Role::HealthCheck(options) => {
                let index = methods.len();
                if let Some((method, check)) =
                    hooks::check_health_check(method, options, index, &item.self_ty, &mut diag)
                {
                    methods.push(method);
                    health_checks.push(check);
                }
            }
            Role::Init(marker) => {
                let span = marker.attr.span();
                if let Some(previous) = &init {
                    diag.error(
                        &marker.attr,
                        format!(
                            "a process has at most one `#[init]` constructor, and `{}` already is one: \
                             remove `#[init]` from `{}` or from `{}`",
                            previous.ident, method.sig.ident, previous.ident
                        ),
                    );
                } else if let Some(checked) = check_init(&method.sig, span, &type_ident, &mut diag)
                {
                    init = Some(checked);
                }
            }
            Role::OnShutdown(marker) => {
                if let Some(previous) = first_hook {
                    diag.error(
                        &marker.attr,
                        format!(
                            "a process has at most one `#[on_shutdown]` hook, and `{previous}` already is one: \
                             call `{this}` from `{previous}` and remove `#[on_shutdown]` from `{this}`",
                            this = method.sig.ident,
                        ),
                    );
                    continue;
                }
                first_hook = Some(&method.sig.ident);
                on_shutdown = hooks::check_on_shutdown(&method.sig, &mut diag);
            }
            Role::Helper => {}
        }
    }

    check_ids(&methods, &mut diag);

    if !diag.is_empty() {
        return Err(diag);
    }
    let needs_lock = methods.iter().any(|m| m.exclusive)
        || on_shutdown.as_ref().is_some_and(|hook| hook.exclusive);
    Ok(Service {
        self_ty: (*item.self_ty).clone(),
        proxy: format_ident!("{}Proxy", type_ident),
        type_name: type_ident.to_string(),
        name,
        version,
        description,
        methods,
        init,
        health_checks,
        on_shutdown,
        needs_lock,
    })
}

/// What a function of the impl block is, by its markers.
#[derive(Clone, Copy)]
enum Role<'a> {
    /// `#[public]`: part of the interface.
    Public,
    /// `#[health_check(...)]`, with its options: part of the interface too.
    HealthCheck(&'a HealthCheckArgs),
    /// `#[init]`: the constructor.
    Init(&'a Marker),
    /// `#[on_shutdown]`: the hook run when the process stops.
    OnShutdown(&'a Marker),
    /// No marker: the user's own helper, left alone.
    Helper,
}

/// Options given to markers that take none, and whatever darling found wrong
/// with `#[health_check(...)]`'s.
fn check_marker_options(method: &RawMethod, diag: &mut Diagnostics) {
    for marker in &method.markers {
        if let Some(Err(error)) = &marker.health {
            diag.push_darling(error.clone());
            continue;
        }
        if marker.kind == MarkerKind::HealthCheck {
            continue;
        }
        no_arguments(&marker.attr, marker.kind.name(), diag);
    }
}

/// `#[name]` takes no arguments.
fn no_arguments(attr: &syn::Attribute, name: &str, diag: &mut Diagnostics) {
    let message =
        format!("`#[{name}]` takes no arguments: remove them and write plain `#[{name}]`");
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::List(list) => diag.error_at(list.delimiter.span().join(), message),
        Meta::NameValue(name_value) => diag.error(&name_value.value, message),
    }
}

/// The role of a function, from its markers; `None`, with the errors
/// recorded, when they contradict each other.
fn role<'a>(method: &'a RawMethod, diag: &mut Diagnostics) -> Option<Role<'a>> {
    let of = |kind: MarkerKind| -> Vec<&'a Marker> {
        method.markers.iter().filter(|m| m.kind == kind).collect()
    };
    let publics = of(MarkerKind::Public);
    let inits = of(MarkerKind::Init);
    let checks = of(MarkerKind::HealthCheck);
    let hooks = of(MarkerKind::OnShutdown);

    if publics.len() > 1 {
        diag.error(
            &method.sig.ident,
            "`#[public]` is given more than once on this method",
        );
    }
    for extra in inits.iter().skip(1) {
        diag.error(
            &extra.attr,
            "`#[init]` is given more than once on this function",
        );
    }
    for extra in checks.iter().skip(1) {
        diag.error(
            &extra.attr,
            "`#[health_check]` is given more than once on this method: one method is one check; \
             write another method for another kind of check",
        );
    }
    for extra in hooks.iter().skip(1) {
        diag.error(
            &extra.attr,
            "`#[on_shutdown]` is given more than once on this method",
        );
    }

    let mut conflict = false;
    if let (Some(_), Some(init)) = (publics.first(), inits.first()) {
        diag.error(
            &init.attr,
            "a method cannot be both `#[public]` and `#[init]`: `#[init]` builds the process, `#[public]` methods serve calls",
        );
        conflict = true;
    }
    if let (Some(public), Some(_)) = (publics.first(), checks.first()) {
        diag.error(
            &public.attr,
            "a `#[health_check]` method is already part of the interface (callers can probe it through the proxy); \
             remove `#[public]`",
        );
        conflict = true;
    }
    if let (Some(_), Some(check)) = (inits.first(), checks.first()) {
        diag.error(
            &check.attr,
            "a method cannot be both `#[init]` and `#[health_check]`: `#[init]` builds the process, \
             a health check probes it once it runs",
        );
        conflict = true;
    }
    if let Some(hook) = hooks.first() {
        let name = &method.sig.ident;
        if !publics.is_empty() {
            diag.error(
                &hook.attr,
                format!(
                    "a method cannot be both `#[public]` and `#[on_shutdown]`: the shutdown hook is not part of the interface; \
                     keep `{name}` `#[public]` and add a separate `#[on_shutdown]` method that calls it"
                ),
            );
            conflict = true;
        }
        if !inits.is_empty() {
            diag.error(
                &hook.attr,
                "a method cannot be both `#[init]` and `#[on_shutdown]`: `#[init]` builds the process, \
                 `#[on_shutdown]` runs when it stops",
            );
            conflict = true;
        }
        if !checks.is_empty() {
            diag.error(
                &hook.attr,
                "a method cannot be both `#[health_check]` and `#[on_shutdown]`: a health check is probed \
                 while the process runs, the shutdown hook runs once when it stops; write two methods",
            );
            conflict = true;
        }
    }
    if conflict {
        return None;
    }

    Some(if !publics.is_empty() {
        Role::Public
    } else if let Some(check) = checks.first() {
        let options = match &check.health {
            Some(Ok(options)) => options,
            // Already reported by `check_marker_options`.
            _ => return None,
        };
        Role::HealthCheck(options)
    } else if let Some(init) = inits.first() {
        Role::Init(init)
    } else if let Some(hook) = hooks.first() {
        Role::OnShutdown(hook)
    } else {
        Role::Helper
    })
}

/// `#[key]` on an argument of anything but a `#[public]` method.
fn reject_keys(method: &RawMethod, role: Role<'_>, diag: &mut Diagnostics) {
    for key in &method.keys {
        let message = match role {
            Role::HealthCheck(_) => String::from(
                "`#[key]` has no place on a `#[health_check]` method: a probe goes to each worker of a pool \
                 by itself rather than being routed by key (and a health check takes no arguments besides `self`)",
            ),
            _ => format!(
                "`#[key]` only has an effect on an argument of a `#[public]` method, where it routes the call \
                 in a pool that balances by key; `{}` is not `#[public]`: remove `#[key]`",
                method.sig.ident
            ),
        };
        diag.error(&key.attr, message);
    }
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Checks a `#[public]` method; `None` if it cannot be part of the interface.
fn check_method(raw: &RawMethod, self_ty: &Type, diag: &mut Diagnostics) -> Option<Method> {
    let sig = &raw.sig;
    let before = diag_len(diag);
    check_signature_shape(sig, "`#[public]` method", WIRE_TYPES_ARE_FIXED, diag);
    let exclusive = check_receiver(sig, "public", CONCURRENT_OR_ALONE, diag);

    let mut args = Vec::new();
    // `args` index of each input, by its position in the signature.
    let mut arg_of_input = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(pat_type) = input else {
            arg_of_input.push(None);
            continue;
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            other => {
                diag.error(
                    other,
                    "give this argument a plain name (like `value: T`): the proxy method takes the same arguments by name",
                );
                arg_of_input.push(None);
                continue;
            }
        };
        let item = stream_item(&pat_type.ty);
        match item {
            Some(item) => {
                check_owned_type(item, TypeRole::Argument, diag);
                if let Some(first) = args.iter().find(|arg: &&Arg| arg.item.is_some()) {
                    diag.error(
                        &pat_type.ty,
                        format!(
                            "a `#[public]` method takes at most one stream argument, and `{}` already is one; \
                             send one stream of an enum or a tuple instead",
                            first.ident
                        ),
                    );
                }
            }
            None => check_owned_type(&pat_type.ty, TypeRole::Argument, diag),
        }
        arg_of_input.push(Some(args.len()));
        args.push(Arg {
            ident,
            ty: replace_self(&pat_type.ty, self_ty),
            item: item.map(|item| replace_self(item, self_ty)),
        });
    }
    let key = check_key(raw, &args, &arg_of_input, diag);

    let output = match &sig.output {
        ReturnType::Default => Output::Unit,
        ReturnType::Type(_, ty) if returned_stream_item(ty).is_some() => {
            let item = returned_stream_item(ty).unwrap_or(ty);
            check_owned_type(item, TypeRole::Result, diag);
            Output::Stream(replace_self(item, self_ty))
        }
        ReturnType::Type(_, ty) => {
            check_owned_type(ty, TypeRole::Result, diag);
            match result_parts(ty) {
                Some((ok, err)) => Output::Fallible {
                    ok: replace_self(ok, self_ty),
                    err: replace_self(err, self_ty),
                },
                None if is_unit(ty) => Output::Unit,
                None => Output::Value(replace_self(ty, self_ty)),
            }
        }
    };

    if diag_len(diag) != before {
        return None;
    }
    let name = sig.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
    Some(Method {
        id: names::method_id(&name),
        ident: sig.ident.clone(),
        vis: raw.vis.clone(),
        exclusive,
        is_async: sig.asyncness.is_some(),
        args,
        key,
        output,
        doc_text: doc_text(&raw.docs),
        docs: raw.docs.clone(),
    })
}

/// The `#[key]` argument of a `#[public]` method: its index in `args`.
fn check_key(
    raw: &RawMethod,
    args: &[Arg],
    arg_of_input: &[Option<usize>],
    diag: &mut Diagnostics,
) -> Option<usize> {
    let mut key: Option<usize> = None;
    for marker in &raw.keys {
        no_arguments(&marker.attr, "key", diag);
        let Some(index) = arg_of_input.get(marker.input).copied() else {
            continue;
        };
        let Some(index) = index else {
            if matches!(raw.sig.inputs.get(marker.input), Some(FnArg::Receiver(_))) {
                diag.error(
                    &marker.attr,
                    "`#[key]` goes on an argument, not on `self`: mark the argument whose value should pick the worker",
                );
            }
            // An argument without a plain name is reported already.
            continue;
        };
        let arg = &args[index];
        if arg.item.is_some() {
            diag.error(
                &marker.attr,
                format!(
                    "the stream argument `{}` cannot be the key: a pool picks the worker before any item is sent; \
                     mark a plain argument `#[key]`, or key the call with `proxy.with_key(&k)`",
                    arg.ident
                ),
            );
            continue;
        }
        match key {
            Some(first) => diag.error(
                &marker.attr,
                format!(
                    "a method has at most one `#[key]` argument, and `{first}` already is one: remove `#[key]` from one of them; \
                     to route by both, remove both and call through `proxy.with_key(&({first}, {second}))`",
                    first = args[first].ident,
                    second = arg.ident,
                ),
            ),
            None => key = Some(index),
        }
    }
    key
}

fn diag_len(diag: &Diagnostics) -> usize {
    diag.len()
}

/// Why a method of the interface cannot be generic.
const WIRE_TYPES_ARE_FIXED: &str = "its argument and result types are fixed on the wire at compile time; \
     use concrete types (an enum can stand for several)";

/// How a method of the interface borrows the process.
const CONCURRENT_OR_ALONE: &str = "`&self` (runs concurrently) or `&mut self` (runs alone)";

/// The receiver of a method marked `#[marker]`: whether it is `&mut self`.
/// `receivers` says which receivers it may take.
fn check_receiver(sig: &Signature, marker: &str, receivers: &str, diag: &mut Diagnostics) -> bool {
    match sig.receiver() {
        None => {
            diag.error(
                &sig.ident,
                format!(
                    "`#[{marker}]` method `{}` needs a receiver: take {receivers}, \
                     or remove `#[{marker}]` if it is an associated helper",
                    sig.ident
                ),
            );
            false
        }
        Some(receiver) => match &receiver.kind {
            ReceiverKind::Reference(_, lifetime, mutability) => {
                if let Some(lifetime) = lifetime {
                    diag.error(lifetime, "drop the lifetime: write `&self` or `&mut self`");
                }
                mutability.is_some()
            }
            ReceiverKind::Value => {
                diag.error(
                    receiver,
                    format!(
                        "`{}` takes `self` by value, which would consume the process; take {receivers}",
                        sig.ident
                    ),
                );
                false
            }
            _ => {
                diag.error(
                    receiver,
                    format!(
                        "a `#[{marker}]` method takes {receivers}; other receivers are not supported"
                    ),
                );
                false
            }
        },
    }
}

/// Rules shared by every marked function: no generics (for the reason
/// given), no `unsafe`, no foreign ABI, no variadics.
fn check_signature_shape(sig: &Signature, what: &str, why: &str, diag: &mut Diagnostics) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diag.error(&sig.generics, format!("a {what} cannot be generic: {why}"));
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        diag.error(
            token,
            format!(
                "a {what} cannot be `unsafe`: callers in other processes cannot uphold its contract"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        diag.error(abi, format!("a {what} cannot have a foreign ABI"));
    }
    if let Some(variadic) = &sig.variadic {
        diag.error(variadic.dots, format!("a {what} cannot be variadic"));
    }
}

#[derive(Clone, Copy)]
enum TypeRole {
    Argument,
    Result,
    Config,
}

impl TypeRole {
    fn noun(self) -> &'static str {
        match self {
            TypeRole::Argument => "an argument",
            TypeRole::Result => "a result",
            TypeRole::Config => "a config",
        }
    }
}

/// Types that cross a process boundary must be owned and concrete.
fn check_owned_type(ty: &Type, role: TypeRole, diag: &mut Diagnostics) {
    let noun = role.noun();
    match ty {
        Type::Reference(reference) => {
            let owned = owned_suggestion(&reference.elem);
            diag.error(
                ty,
                format!(
                    "{noun} of a process method cannot be borrowed: it is moved or serialised to another task or process; \
                     use an owned type, `{owned}` instead of `{}`",
                    names::type_name(ty)
                ),
            );
        }
        Type::ImplTrait(_) => diag.error(
            ty,
            format!(
                "`impl Trait` cannot be {noun} of a process method: the type must be known to serialise it; \
                 use a concrete type that implements `Serialize` and `Deserialize`"
            ),
        ),
        Type::TraitObject(_) => diag.error(
            ty,
            format!("a trait object cannot be {noun} of a process method: use a concrete type (an enum can stand for several)"),
        ),
        Type::Infer(_) => diag.error(ty, format!("write out the type of {noun}: `_` cannot be inferred here")),
        Type::Ptr(_) => diag.error(
            ty,
            format!("a raw pointer cannot be {noun} of a process method: it means nothing in another process"),
        ),
        Type::Never(_) => {}
        _ => {
            if let Some(reference) = find_reference(ty) {
                diag.error(
                    reference,
                    format!(
                        "{noun} of a process method cannot contain borrowed data: it is moved or serialised to another task or process; \
                         use an owned type inside it, `{}` instead of `{}`",
                        owned_suggestion(&reference.elem),
                        names::type_name(&Type::Reference(reference.clone()))
                    ),
                );
            } else if let Some(token) = find_borrow(ty.to_token_stream()) {
                diag.error_at(
                    token,
                    format!(
                        "{noun} of a process method cannot contain borrowed data: it is moved or serialised to another task or process; \
                         use owned types inside it (`String`, `Vec<T>`, …) and drop the lifetime"
                    ),
                );
            } else if let Some(span) = find_impl(ty.to_token_stream()) {
                diag.error_at(
                    span,
                    format!("`impl Trait` cannot appear in {noun} of a process method: use a concrete type"),
                );
            }
        }
    }
}

/// The owned type to suggest for a borrowed one.
fn owned_suggestion(elem: &Type) -> String {
    match elem {
        Type::Path(path) if path.path.is_ident("str") => String::from("String"),
        Type::Path(path) if path.path.is_ident("Path") => String::from("PathBuf"),
        Type::Slice(slice) => format!("Vec<{}>", names::type_name(&slice.elem)),
        other => names::type_name(other),
    }
}

/// The first reference type nested anywhere inside `ty` (through paths' type
/// arguments, tuples, arrays, slices and parentheses).
fn find_reference(ty: &Type) -> Option<&syn::TypeReference> {
    match ty {
        Type::Reference(reference) => Some(reference),
        Type::Path(path) => {
            let qself = path.qself.as_ref().and_then(|q| find_reference(&q.ty));
            qself.or_else(|| {
                path.path
                    .segments
                    .iter()
                    .find_map(|segment| match &segment.arguments {
                        PathArguments::AngleBracketed(args) => {
                            args.args.iter().find_map(|arg| match arg {
                                GenericArgument::Type(ty) => find_reference(ty),
                                _ => None,
                            })
                        }
                        _ => None,
                    })
            })
        }
        Type::Tuple(tuple) => tuple.elems.iter().find_map(find_reference),
        Type::Array(array) => find_reference(&array.elem),
        Type::Slice(slice) => find_reference(&slice.elem),
        Type::Paren(paren) => find_reference(&paren.elem),
        Type::Group(group) => find_reference(&group.elem),
        _ => None,
    }
}

/// The span of a `&` or a lifetime anywhere inside a type's tokens.
fn find_borrow(tokens: TokenStream) -> Option<Span> {
    let mut previous_was_quote = false;
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == '&' => return Some(p.span()),
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                previous_was_quote = true;
                continue;
            }
            TokenTree::Ident(ident) if previous_was_quote && ident != "static" => {
                return Some(ident.span());
            }
            TokenTree::Group(group) => {
                if let Some(span) = find_borrow(group.stream()) {
                    return Some(span);
                }
            }
            _ => {}
        }
        previous_was_quote = false;
    }
    None
}

/// The span of an `impl` keyword anywhere inside a type's tokens.
fn find_impl(tokens: TokenStream) -> Option<Span> {
    for tree in tokens {
        match &tree {
            TokenTree::Ident(ident) if ident == "impl" => return Some(ident.span()),
            TokenTree::Group(group) => {
                if let Some(span) = find_impl(group.stream()) {
                    return Some(span);
                }
            }
            _ => {}
        }
    }
    None
}

/// `T` of a `Stream<T>` (Titan's stream type, however its path is written).
fn stream_item(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Stream" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(item)] => Some(item),
        _ => None,
    }
}

/// `T` of a returned `Stream<T>` or `impl Stream<Item = T> (+ Send …)`.
fn returned_stream_item(ty: &Type) -> Option<&Type> {
    if let Some(item) = stream_item(ty) {
        return Some(item);
    }
    let Type::ImplTrait(bounds) = ty else {
        return None;
    };
    bounds.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Stream" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// `T` and `E` of a `Result<T, E>` written with two type arguments.
fn result_parts(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let ok = types.next()?;
    let err = types.next()?;
    if types.next().is_some() || args.args.len() != 2 {
        return None;
    }
    Some((ok, err))
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// Whether `ty` names the process type itself (`Self` or its own name).
fn is_self(ty: &Type, type_ident: &syn::Ident) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.is_ident("Self") || path.path.is_ident(type_ident)
        }
        _ => false,
    }
}

/// `ty` with every `Self` replaced by the process type, so it can be named
/// from the proxy.
fn replace_self(ty: &Type, self_ty: &Type) -> Type {
    fn walk(tokens: TokenStream, replacement: &TokenStream) -> TokenStream {
        tokens
            .into_iter()
            .flat_map(|tree| -> Vec<TokenTree> {
                match tree {
                    TokenTree::Ident(ident) if ident == "Self" => {
                        replacement.clone().into_iter().collect()
                    }
                    TokenTree::Group(group) => {
                        let mut new = proc_macro2::Group::new(
                            group.delimiter(),
                            walk(group.stream(), replacement),
                        );
                        new.set_span(group.span());
                        vec![TokenTree::Group(new)]
                    }
                    other => vec![other],
                }
            })
            .collect()
    }
    let replaced = walk(ty.to_token_stream(), &self_ty.to_token_stream());
    syn::parse2(replaced).unwrap_or_else(|_| ty.clone())
}

/// Checks the `#[init]` constructor.
fn check_init(
    sig: &Signature,
    span: Span,
    type_ident: &syn::Ident,
    diag: &mut Diagnostics,
) -> Option<Init> {
    let before = diag_len(diag);
    check_signature_shape(sig, "`#[init]` constructor", WIRE_TYPES_ARE_FIXED, diag);
    if let Some(receiver) = sig.receiver() {
        diag.error(
            receiver,
            format!(
                "`#[init]` builds the process, so it takes no `self`: remove {} \
                 (the shape is `async fn new(config: C) -> Result<Self, E>`)",
                receiver_text(receiver)
            ),
        );
    }
    let typed: Vec<_> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(pat_type) => Some(pat_type),
            FnArg::Receiver(_) => None,
        })
        .collect();
    if typed.len() > 1 {
        diag.error(
            &sig.inputs,
            "`#[init]` takes at most one argument, the config: gather the settings into one serialisable struct",
        );
    }
    let config = typed.first().map(|pat_type| {
        check_owned_type(&pat_type.ty, TypeRole::Config, diag);
        (*pat_type.ty).clone()
    });

    let fallible = match &sig.output {
        ReturnType::Type(_, ty) if is_self(ty, type_ident) => false,
        ReturnType::Type(_, ty) => match result_parts(ty) {
            Some((ok, _)) if is_self(ok, type_ident) => true,
            _ => {
                diag.error(
                    ty,
                    format!(
                        "`#[init]` must return the process, not `{}`: write `-> Self`, \
                         or `-> Result<Self, E>` (with `E: Display`) if construction can fail",
                        names::type_name(ty)
                    ),
                );
                false
            }
        },
        ReturnType::Default => {
            diag.error(
                &sig.ident,
                "`#[init]` must return the process: add `-> Self`, \
                 or `-> Result<Self, E>` (with `E: Display`) if construction can fail",
            );
            false
        }
    };

    if diag_len(diag) != before {
        return None;
    }
    Some(Init {
        ident: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        config,
        fallible,
        span,
    })
}

/// A receiver as the user would write it, quoted: `&self`, `&mut self`, `mut self`.
fn receiver_text(receiver: &syn::Receiver) -> String {
    match &receiver.kind {
        ReceiverKind::Reference(_, _, Some(_)) => String::from("`&mut self`"),
        ReceiverKind::Reference(_, _, None) => String::from("`&self`"),
        ReceiverKind::Value if receiver.mutability.is_some() => String::from("`mut self`"),
        ReceiverKind::Value => String::from("`self`"),
        _ => String::from("the `self` argument"),
    }
}

/// Rejects two method names with the same 32-bit id.
fn check_ids(methods: &[Method], diag: &mut Diagnostics) {
    let mut seen: HashMap<u32, &syn::Ident> = HashMap::new();
    for method in methods {
        if let Some(first) = seen.insert(method.id, &method.ident) {
            diag.error(
                &method.ident,
                format!(
                    "`{}` and `{first}` hash to the same method id {:#010x}; rename one of them",
                    method.ident, method.id
                ),
            );
        }
    }
}

/// The text of `#[doc]` attributes, one line each, with the leading space trimmed.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(lit) = &nv.value
            && let Lit::Str(s) = &lit.lit
        {
            let value = s.value();
            lines.push(value.strip_prefix(' ').unwrap_or(&value).to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn method(ident: &str) -> Method {
        Method {
            ident: syn::Ident::new(ident, Span::call_site()),
            vis: syn::Visibility::Inherited,
            id: names::method_id(ident),
            exclusive: false,
            is_async: true,
            args: Vec::new(),
            key: None,
            output: Output::Unit,
            docs: Vec::new(),
            doc_text: String::new(),
        }
    }

    #[test]
    fn colliding_method_ids_are_rejected() {
        // Two distinct names whose ids collide, forced by hand.
        let a = method("alpha");
        let mut b = method("beta");
        b.id = a.id;
        let mut diag = Diagnostics::default();
        check_ids(&[a, b], &mut diag);
        assert_eq!(diag.len(), 1);
    }

    #[test]
    fn distinct_ids_pass() {
        let mut diag = Diagnostics::default();
        check_ids(&[method("add"), method("sub")], &mut diag);
        assert!(diag.is_empty());
    }

    #[test]
    fn result_parts_find_ok_and_err() {
        let ty: Type = parse_quote!(Result<i64, MathError>);
        let (ok, err) = result_parts(&ty).expect("a result");
        assert_eq!(names::type_name(ok), "i64");
        assert_eq!(names::type_name(err), "MathError");
        let alias: Type = parse_quote!(std::io::Result<i64>);
        assert!(result_parts(&alias).is_none());
    }

    #[test]
    fn borrowed_suggestions_name_the_owned_type() {
        let ty: Type = parse_quote!(str);
        assert_eq!(owned_suggestion(&ty), "String");
        let ty: Type = parse_quote!([u8]);
        assert_eq!(owned_suggestion(&ty), "Vec<u8>");
        assert!(find_borrow(quote::quote!(Vec<&str>)).is_some());
        assert!(find_borrow(quote::quote!(Cow<'a, str>)).is_some());
        assert!(find_borrow(quote::quote!(&'static str)).is_some());
        assert!(find_borrow(quote::quote!(Vec<String>)).is_none());
        let ty: Type = parse_quote!(Vec<(u8, Option<&'static str>)>);
        let reference = find_reference(&ty).expect("a nested reference");
        assert_eq!(owned_suggestion(&reference.elem), "String");
        let ty: Type = parse_quote!(HashMap<String, Vec<u8>>);
        assert!(find_reference(&ty).is_none());
    }

    #[test]
    fn self_is_replaced_by_the_process_type() {
        let ty: Type = parse_quote!(Vec<Self>);
        let self_ty: Type = parse_quote!(Calculator);
        assert_eq!(
            names::type_name(&replace_self(&ty, &self_ty)),
            "Vec<Calculator>"
        );
    }
}

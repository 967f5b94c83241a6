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

use super::model::{Arg, Init, Method, Output, Service};
use super::parse::{MarkerKind, RawMethod, RawProcess};
use crate::diagnostics::Diagnostics;
use crate::names;

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
    for method in &raw.methods {
        let public = method.markers.iter().find(|m| m.kind == MarkerKind::Public);
        let inits: Vec<_> = method
            .markers
            .iter()
            .filter(|m| m.kind == MarkerKind::Init)
            .collect();
        for marker in &method.markers {
            let message = format!(
                "`#[{name}]` takes no arguments: remove them and write plain `#[{name}]`",
                name = marker.kind.name()
            );
            match &marker.attr.meta {
                Meta::Path(_) => {}
                Meta::List(list) => diag.error_at(list.delimiter.span().join(), message),
                Meta::NameValue(name_value) => diag.error(&name_value.value, message),
            }
        }
        let publics = method
            .markers
            .iter()
            .filter(|m| m.kind == MarkerKind::Public)
            .count();
        if publics > 1 {
            diag.error(
                &method.sig.ident,
                "`#[public]` is given more than once on this method",
            );
        }
        if let (Some(public), Some(first_init)) = (public, inits.first()) {
            let _ = public;
            diag.error(
                &first_init.attr,
                "a method cannot be both `#[public]` and `#[init]`: `#[init]` builds the process, `#[public]` methods serve calls",
            );
            continue;
        }
        if let Some(public) = public {
            let _ = public;
            if let Some(method) = check_method(method, &type_ident, &item.self_ty, &mut diag) {
                methods.push(method);
            }
        } else if !inits.is_empty() {
            for extra in inits.iter().skip(1) {
                diag.error(
                    &extra.attr,
                    "`#[init]` is given more than once on this function",
                );
            }
            let span = inits[0].attr.span();
            if let Some(previous) = &init {
                diag.error(
                    &inits[0].attr,
                    format!(
                        "a process has at most one `#[init]` constructor, and `{}` already is one: \
                         remove `#[init]` from `{}` or from `{}`",
                        previous.ident, method.sig.ident, previous.ident
                    ),
                );
            } else if let Some(checked) = check_init(&method.sig, span, &type_ident, &mut diag) {
                init = Some(checked);
            }
        }
    }

    check_ids(&methods, &mut diag);

    if !diag.is_empty() {
        return Err(diag);
    }
    let needs_lock = methods.iter().any(|m| m.exclusive);
    Ok(Service {
        self_ty: (*item.self_ty).clone(),
        proxy: format_ident!("{}Proxy", type_ident),
        type_name: type_ident.to_string(),
        name,
        version,
        description,
        methods,
        init,
        needs_lock,
    })
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Checks a `#[public]` method; `None` if it cannot be part of the interface.
fn check_method(
    raw: &RawMethod,
    type_ident: &syn::Ident,
    self_ty: &Type,
    diag: &mut Diagnostics,
) -> Option<Method> {
    let sig = &raw.sig;
    let before = diag_len(diag);
    check_signature_shape(sig, "`#[public]` method", diag);

    let mut exclusive = false;
    match sig.receiver() {
        None => diag.error(
            &sig.ident,
            format!(
                "`#[public]` method `{}` needs a receiver: take `&self` (runs concurrently) or `&mut self` (runs alone), \
                 or remove `#[public]` if it is an associated helper",
                sig.ident
            ),
        ),
        Some(receiver) => match &receiver.kind {
            ReceiverKind::Reference(_, lifetime, mutability) => {
                if let Some(lifetime) = lifetime {
                    diag.error(lifetime, "drop the lifetime: write `&self` or `&mut self`");
                }
                exclusive = mutability.is_some();
            }
            ReceiverKind::Value => diag.error(
                receiver,
                format!(
                    "`{}` takes `self` by value, which would consume the process; take `&self` (runs concurrently) or `&mut self` (runs alone)",
                    sig.ident
                ),
            ),
            _ => diag.error(
                receiver,
                "a `#[public]` method takes `&self` (runs concurrently) or `&mut self` (runs alone); other receivers are not supported",
            ),
        },
    }

    let mut args = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            other => {
                diag.error(
                    other,
                    "give this argument a plain name (like `value: T`): the proxy method takes the same arguments by name",
                );
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
        args.push(Arg {
            ident,
            ty: replace_self(&pat_type.ty, self_ty),
            item: item.map(|item| replace_self(item, self_ty)),
        });
    }

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

    let _ = type_ident;
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
        output,
        doc_text: doc_text(&raw.docs),
        docs: raw.docs.clone(),
    })
}

fn diag_len(diag: &Diagnostics) -> usize {
    diag.len()
}

/// Rules shared by `#[public]` methods and `#[init]`: no generics, no `unsafe`,
/// no foreign ABI, no variadics.
fn check_signature_shape(sig: &Signature, what: &str, diag: &mut Diagnostics) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diag.error(
            &sig.generics,
            format!(
                "a {what} cannot be generic: its argument and result types are fixed on the wire at compile time; \
                 use concrete types (an enum can stand for several)"
            ),
        );
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
    check_signature_shape(sig, "`#[init]` constructor", diag);
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

//! The lifecycle markers: `#[health_check]` methods (part of the interface,
//! probed by the manager) and the `#[on_shutdown]` hook (run once when the
//! process stops, not part of the interface).

use std::time::Duration;

use syn::{FnArg, ReturnType, Signature, Type};

use super::{
    CONCURRENT_OR_ALONE, Diagnostics, check_receiver, check_signature_shape, diag_len, doc_text,
    find_impl, is_unit, replace_self,
};
use crate::duration::{self, DurationOption};
use crate::names;
use crate::process::model::{HealthCheck, HealthKind, Method, OnShutdown, Output};
use crate::process::parse::{HealthCheckArgs, KindOption, RawMethod};

/// What a health check returns, for messages.
const ANSWERS: &str = "`Health`, `HealthStatus` or `bool`";

/// Checks a `#[health_check]` method, to be `index` in the interface.
pub(super) fn check_health_check(
    raw: &RawMethod,
    options: &HealthCheckArgs,
    index: usize,
    self_ty: &Type,
    diag: &mut Diagnostics,
) -> Option<(Method, HealthCheck)> {
    let sig = &raw.sig;
    let before = diag_len(diag);
    check_signature_shape(
        sig,
        "`#[health_check]` method",
        "the manager calls it with no type to choose; use concrete types",
        diag,
    );
    let exclusive = check_receiver(sig, "health_check", CONCURRENT_OR_ALONE, diag);
    for input in &sig.inputs {
        if let FnArg::Typed(pat_type) = input {
            diag.error(
                pat_type,
                format!(
                    "a `#[health_check]` method takes no arguments besides `self`: the manager probes it with none; \
                     remove `{}` (keep what the check needs in a field)",
                    names::type_name(&pat_type.pat)
                ),
            );
        }
    }

    let answer = match &sig.output {
        ReturnType::Default => {
            diag.error(
                &sig.ident,
                format!(
                    "`#[health_check]` method `{}` must say how the process is: return {ANSWERS} (add `-> Health`)",
                    sig.ident
                ),
            );
            None
        }
        ReturnType::Type(_, ty) if is_unit(ty) => {
            diag.error(
                ty,
                format!("a `#[health_check]` method must say how the process is: return {ANSWERS}, not `()`"),
            );
            None
        }
        ReturnType::Type(_, ty) => match find_impl(quote::ToTokens::to_token_stream(ty)) {
            Some(span) => {
                diag.error_at(
                    span,
                    format!("a `#[health_check]` method returns a concrete type: {ANSWERS}"),
                );
                None
            }
            None => Some(replace_self(ty, self_ty)),
        },
    };

    let kind = options
        .kind
        .as_ref()
        .map_or(Some(HealthKind::Liveness), |kind| check_kind(kind, diag));
    let interval = check_duration(
        options.interval.as_ref(),
        "interval",
        Duration::from_secs(10),
        "a check probed every instant would never let the process rest",
        diag,
    );
    let timeout = check_duration(
        options.timeout.as_ref(),
        "timeout",
        Duration::from_secs(1),
        "no probe can answer in no time",
        diag,
    );
    let failure_threshold = match &options.failure_threshold {
        None => 3,
        Some(threshold) if **threshold == 0 => {
            diag.error_at(
                threshold.span(),
                "`failure_threshold` must be at least 1: it counts the failures in a row that fail the check \
                 (default 3)",
            );
            0
        }
        Some(threshold) => **threshold,
    };

    if diag_len(diag) != before {
        return None;
    }
    let (answer, kind, interval, timeout) = (answer?, kind?, interval?, timeout?);
    let name = sig.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
    let method = Method {
        id: names::method_id(&name),
        ident: sig.ident.clone(),
        vis: raw.vis.clone(),
        exclusive,
        is_async: sig.asyncness.is_some(),
        args: Vec::new(),
        key: None,
        output: Output::Health(answer),
        doc_text: doc_text(&raw.docs),
        docs: raw.docs.clone(),
    };
    let check = HealthCheck {
        method: index,
        kind,
        interval,
        timeout,
        failure_threshold,
    };
    Some((method, check))
}

/// `kind = "..."`: one of the three probes.
fn check_kind(kind: &KindOption, diag: &mut Diagnostics) -> Option<HealthKind> {
    match kind.text.as_str() {
        "liveness" => Some(HealthKind::Liveness),
        "readiness" => Some(HealthKind::Readiness),
        "startup" => Some(HealthKind::Startup),
        other => {
            diag.error_at(
                kind.span,
                format!(
                    "\"{other}\" is not a kind of health check: write `kind = \"liveness\"` (failing restarts the process), \
                     `\"readiness\"` (failing takes it out of balancing) or `\"startup\"` (the other checks wait until it passes)"
                ),
            );
            None
        }
    }
}

/// A duration option: `default` when absent, an error when malformed or zero.
fn check_duration(
    option: Option<&DurationOption>,
    name: &str,
    default: Duration,
    why_not_zero: &str,
    diag: &mut Diagnostics,
) -> Option<Duration> {
    let Some(option) = option else {
        return Some(default);
    };
    match duration::parse(&option.text) {
        Ok(value) if value.is_zero() => {
            diag.error_at(
                option.span,
                format!(
                    "`{name}` must be longer than zero: {why_not_zero}; the default is \"{}s\"",
                    default.as_secs()
                ),
            );
            None
        }
        Ok(value) => Some(value),
        Err(error) => {
            diag.error_at(option.span, duration::message(&option.text, &error));
            None
        }
    }
}

/// Checks the `#[on_shutdown]` hook: `&self` or `&mut self`, nothing else, no result.
pub(super) fn check_on_shutdown(sig: &Signature, diag: &mut Diagnostics) -> Option<OnShutdown> {
    let before = diag_len(diag);
    check_signature_shape(
        sig,
        "`#[on_shutdown]` hook",
        "nothing would choose its type parameters when the process stops; remove them",
        diag,
    );
    let exclusive = check_receiver(
        sig,
        "on_shutdown",
        "`&self` or `&mut self` (the hook runs on the instance being stopped)",
        diag,
    );
    for input in &sig.inputs {
        if let FnArg::Typed(pat_type) = input {
            diag.error(
                pat_type,
                format!(
                    "an `#[on_shutdown]` hook takes no arguments besides `self`: nothing is passed to it when the process stops; \
                     remove `{}` (keep what the hook needs in a field)",
                    names::type_name(&pat_type.pat)
                ),
            );
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && !is_unit(ty)
    {
        diag.error(
            ty,
            format!(
                "an `#[on_shutdown]` hook returns nothing: no one receives `{}` when the process stops; \
                 handle the outcome inside the hook (log an error, say) and remove the return type",
                names::type_name(ty)
            ),
        );
    }
    if diag_len(diag) != before {
        return None;
    }
    Some(OnShutdown {
        ident: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        exclusive,
    })
}

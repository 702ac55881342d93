//! W3C trace context across the outbox. A change records the `traceparent` of the request that
//! made it with its event; the work done later from that event — webhook deliveries, email —
//! runs in a span whose parent is that request's span, and sends the context on
//! (`traceparent` and `tracestate` headers), so a receiver's trace joins the caller's.
//!
//! The propagator is the process's global one, which the server installs at start with its
//! tracer; without one, nothing is recorded or sent.

use std::collections::HashMap;

use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header that names the trace and the parent span.
pub const TRACEPARENT: &str = "traceparent";

/// The propagation headers of `span`'s context; empty when it belongs to no trace.
pub fn headers_of(span: &tracing::Span) -> HashMap<String, String> {
    let cx = span.context();
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier
}

/// The `traceparent` of the current span, for a record made now.
pub fn current() -> Option<String> {
    headers_of(&tracing::Span::current()).remove(TRACEPARENT)
}

/// Makes `span` a child of the span `traceparent` names; a missing or malformed value leaves it
/// a root.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    // Fails only for a span the tracer has already started: these are new.
    let _ = span.set_parent(cx);
}

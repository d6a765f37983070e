use proptest::prelude::*;

use super::*;

const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn a_valid_traceparent_is_read_whole() {
    let parent = TraceParent::parse(VALID).unwrap();
    assert_eq!(
        parent.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(parent.parent_id.to_string(), "b7ad6b7169203331");
    assert_eq!(parent.flags, 1);
    // Surrounding optional whitespace is allowed by W3C.
    assert_eq!(TraceParent::parse(&format!(" {VALID}\t")), Some(parent));
}

#[test]
fn anything_but_version_00_with_nonzero_ids_is_ignored() {
    for bad in [
        "",
        "garbage",
        // Another version, even with the same shape.
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        // All-zero ids.
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        // Upper case, signs, wrong lengths and separators.
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
        "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333é-01",
    ] {
        assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn tracestate_is_kept_within_its_bounds_only() {
    assert_eq!(
        parse_tracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").as_deref(),
        Some("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7")
    );
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert!(parse_tracestate(&members(MAX_TRACESTATE_MEMBERS)).is_some());
    assert_eq!(parse_tracestate(&members(MAX_TRACESTATE_MEMBERS + 1)), None);
    let long = format!("k={}", "v".repeat(MAX_TRACESTATE_BYTES - 2));
    assert_eq!(parse_tracestate(&long).map(|s| s.len()), Some(512));
    let oversize = format!("k={}", "v".repeat(MAX_TRACESTATE_BYTES));
    assert_eq!(parse_tracestate(&oversize), None);
    for bad in ["", "novalue", "=v", "k=", "a=1\r\nX-Forged: 1", "k=é"] {
        assert_eq!(parse_tracestate(bad), None, "{bad:?}");
    }
}

#[test]
fn a_tracestate_without_a_valid_parent_is_dropped() {
    let without = Incoming::from_values(Some("00-bad"), Some("a=1"));
    assert_eq!(without, Incoming::default());
    let with = Incoming::from_values(Some(VALID), Some("a=1"));
    assert_eq!(with.state.as_deref(), Some("a=1"));
    // The next source is asked only when the first has no valid parent.
    let header = || Incoming::from_values(Some(VALID), None);
    assert_eq!(without.or_else(header), header());
    let meta = Incoming::from_values(
        Some("00-11111111111111111111111111111111-2222222222222222-00"),
        None,
    );
    assert_eq!(meta.clone().or_else(header), meta);
}

#[test]
fn a_child_keeps_the_trace_and_takes_a_new_span_id() {
    let incoming = Incoming::from_values(Some(VALID), Some("a=1"));
    let child = SpanContext::child_of(&incoming);
    assert_eq!(
        child.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_ne!(child.span_id.to_string(), "b7ad6b7169203331");
    assert_eq!(child.flags, 1);
    let map = child.to_map();
    let sent = TraceParent::parse(&map[TRACEPARENT]).unwrap();
    assert_eq!(sent.trace_id, child.trace_id);
    assert_eq!(sent.parent_id, child.span_id);
    assert_eq!(map[TRACESTATE], "a=1");
    assert_eq!(Incoming::from_map(&map).parent, Some(sent));
    // Without a parent, a new trace with valid ids.
    let root = SpanContext::child_of(&Incoming::default());
    assert!(TraceParent::parse(&root.traceparent()).is_some());
    assert_ne!(root.trace_id, child.trace_id);
}

#[tokio::test]
async fn spans_record_their_ids_and_children_follow_the_current_context() {
    let incoming = Incoming::from_values(Some(VALID), None);
    let planned = plan(Some(&incoming));
    let span = tracing::info_span!(
        "test",
        trace_id = %planned.trace_id(),
        span_id = %planned.span_id()
    );
    let call = start(&span, planned);
    assert_eq!(call.trace_id, incoming.parent.unwrap().trace_id);
    assert_eq!(current(), None);
    let inner = scope(call.clone(), async {
        let request = start(&tracing::Span::none(), plan(None));
        (current(), request)
    })
    .await;
    assert_eq!(inner.0.as_ref(), Some(&call));
    assert_eq!(inner.1.trace_id, call.trace_id);
    assert_ne!(inner.1.span_id, call.span_id);
}

proptest! {
    #[test]
    fn parsing_never_panics(s in "\\PC{0,80}") {
        let _ = TraceParent::parse(&s);
        let _ = parse_tracestate(&s);
    }

    #[test]
    fn what_is_sent_parses_back(trace in 1u128.., span in 1u64.., flags in any::<u8>()) {
        let context = SpanContext {
            trace_id: TraceId(trace),
            span_id: SpanId(span),
            flags,
            state: None,
        };
        let parsed = TraceParent::parse(&context.traceparent()).unwrap();
        prop_assert_eq!(parsed.trace_id, context.trace_id);
        prop_assert_eq!(parsed.parent_id, context.span_id);
        prop_assert_eq!(parsed.flags, flags);
    }
}

/// With export on, what is propagated names the exported spans: the call's
/// span continues the caller's span, and a span inside it is its child.
#[test]
fn exported_spans_carry_the_propagated_ids() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::prelude::*;

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let subscriber = tracing_subscriber::registry().with(layer);
    let incoming = Incoming::from_values(Some(VALID), Some("a=1"));
    set_exporting(true);
    let (call, request) = tracing::subscriber::with_default(subscriber, || {
        let planned = plan(Some(&incoming));
        let span = tracing::info_span!(
            "call",
            otel.name = "tools/call d365fo_query_entities",
            trace_id = %planned.trace_id(),
            span_id = %planned.span_id()
        );
        let call = start(&span, planned);
        let request = span.in_scope(|| {
            let planned = plan(None);
            let span = tracing::info_span!(
                "request",
                trace_id = %planned.trace_id(),
                span_id = %planned.span_id()
            );
            start(&span, planned)
        });
        (call, request)
    });
    set_exporting(false);
    let spans = exporter.get_finished_spans().unwrap();
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:?}"))
    };
    let exported = named("tools/call d365fo_query_entities");
    let parent = incoming.parent.unwrap();
    assert_eq!(
        exported.span_context.trace_id().to_string(),
        parent.trace_id.to_string()
    );
    assert_eq!(
        exported.span_context.span_id().to_string(),
        call.span_id.to_string()
    );
    assert_eq!(
        exported.parent_span_id.to_string(),
        parent.parent_id.to_string()
    );
    assert_eq!(call.trace_id, parent.trace_id);
    assert_eq!(call.state.as_deref(), Some("a=1"));
    let inner = named("request");
    assert_eq!(
        inner.span_context.trace_id().to_string(),
        call.trace_id.to_string()
    );
    assert_eq!(
        inner.span_context.span_id().to_string(),
        request.span_id.to_string()
    );
    assert_eq!(inner.parent_span_id.to_string(), call.span_id.to_string());
}

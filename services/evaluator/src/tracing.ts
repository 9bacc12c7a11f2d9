import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { header, type ReceivedHeaders } from '@stepgate/messaging';

/**
 * One span per gate, a child of the request's W3C `traceparent`; the decision carries the span's
 * context onward. With no OpenTelemetry SDK registered the API is a no-op and the request's
 * traceparent passes through unchanged.
 */
const tracer = trace.getTracer('stepgate-evaluator');
const propagator = new W3CTraceContextPropagator();

const getter: TextMapGetter<ReceivedHeaders | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: header,
};
const setter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => void (carrier[key] = value) };

export interface GateSpan {
  span: Span;
  context: Context;
}

export function startGateSpan(headers: ReceivedHeaders | undefined, topic: string, startTime: number): GateSpan {
  const parent = propagator.extract(ROOT_CONTEXT, headers, getter);
  const span = tracer.startSpan(
    'stepgate.gate',
    {
      kind: SpanKind.CONSUMER,
      startTime,
      attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': topic },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Headers that continue the trace on the decision message. */
export function traceHeaders(gateSpan: GateSpan): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagator.inject(gateSpan.context, carrier, setter);
  return carrier;
}

export function endGateSpan(
  gateSpan: GateSpan,
  attributes: Record<string, string | number | boolean | undefined>,
  failed: boolean,
): void {
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) gateSpan.span.setAttribute(key, value);
  if (failed) gateSpan.span.setStatus({ code: SpanStatusCode.ERROR });
  gateSpan.span.end();
}

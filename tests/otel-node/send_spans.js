// Sends GenAI client spans to an OTLP/HTTP endpoint with the Node OpenTelemetry SDK (nothing of ours on this side),
// then writes "traceId spanId" (hex) per span to --ids-file. Used by IngestTests.
'use strict';
const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const fs = require('node:fs');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

async function main() {
  const url = arg('url');
  const protocol = arg('protocol');
  const count = Number(arg('count'));
  const idsFile = arg('ids-file');
  const service = arg('service', 'node-svc');
  let exporter;
  if (protocol === 'proto') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
    exporter = new OTLPTraceExporter({ url });
  } else if (protocol === 'json') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter({ url });
  } else {
    throw new Error(`--protocol must be proto or json, not '${protocol}'`);
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment.name': 'staging' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 50, scheduledDelayMillis: 100 })],
  });
  const tracer = provider.getTracer('pipeline-otel-node-test');
  const lines = [];
  for (let i = 0; i < count; i++) {
    const failed = i % 6 === 5;
    const span = tracer.startSpan('chat gpt-4o-mini', {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.prompt.name': 'node_answer',
        'gen_ai.prompt.version': '7',
      },
    });
    if (failed) {
      span.setAttribute('error.type', 'rate_limited');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'HTTP 429' });
    } else {
      span.setAttribute('gen_ai.response.model', 'gpt-4o-mini-2024-07-18');
      span.setAttribute('gen_ai.usage.input_tokens', 200 + i);
      span.setAttribute('gen_ai.usage.output_tokens', 20 + i);
    }
    span.end();
    const ctx = span.spanContext();
    lines.push(`${ctx.traceId} ${ctx.spanId}`);
  }
  await provider.forceFlush();
  await provider.shutdown();
  fs.writeFileSync(idsFile, lines.join('\n') + '\n');
  console.log(JSON.stringify({ sent: count, protocol }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});

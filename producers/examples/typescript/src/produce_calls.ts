// Publishes LlmCall events to the pipeline from TypeScript, with nothing but the .avsc file.
//
// What a service team's own producer must do, shown end to end:
//  * encode with schemas/llm_call.avsc (Avro binary) behind the 5-byte Confluent header (magic byte 0, then the
//    schema id as a big-endian int: 1, the catalogue's llm_call id, unless your producers and the aggregator share
//    a Schema Registry);
//  * key each record by its series (environment, service, prompt_name, prompt_version, request_model joined by
//    U+001F) and partition the key as librdkafka does (CRC-32), so a series stays on the partition our other
//    producers put it on;
//  * produce with acks=all and idempotence (lz4-compressed, as our SDK does), and check every acknowledgement.
//
// Run: node dist/produce_calls.js --bootstrap 127.0.0.1:9092 [--topic llm.calls.v1] [--count 100] [--service S]
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { CompressionTypes, Kafka, logLevel, type Message } from "kafkajs";
import { LLM_CALL_ID, SCHEMAS, frame, librdkafkaPartitioner, loadSchema, registerLz4, seriesKey } from "./wire.js";

const { values: args } = parseArgs({
  options: {
    bootstrap: { type: "string" },
    topic: { type: "string", default: "llm.calls.v1" },
    count: { type: "string", default: "100" },
    environment: { type: "string", default: "dev" },
    service: { type: "string", default: "typescript-example" },
    seed: { type: "string", default: "1" },
    schema: { type: "string", default: path.join(SCHEMAS, "llm_call.avsc") },
    "schema-id": { type: "string", default: String(LLM_CALL_ID) },
    "ids-file": { type: "string" },
  },
});
if (!args.bootstrap) {
  console.error("error: --bootstrap HOST:PORT is required");
  process.exit(2);
}

// A small seeded generator (mulberry32), so a run's shape is repeatable.
let state = Number(args.seed) >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const round3 = (v: number) => Math.round(v * 1000) / 1000;

function makeCall(now: number) {
  const latency = round3(Math.exp(6.5 + 0.4 * (random() + random() + random() - 1.5)));
  const error = random() < 0.05;
  return {
    event_id: randomUUID(),
    occurred_at: now - between(0, 60_000), // timestamp-millis: milliseconds since the epoch
    environment: args.environment!,
    service: args.service!,
    operation: "chat",
    provider: "openai",
    request_model: "gpt-4o-mini",
    response_model: "gpt-4o-mini-2024-07-18",
    prompt_name: "typescript_example",
    prompt_version: `1.${between(0, 4)}`,
    request_id: null,
    trace_id: null,
    tags: { language: "typescript" },
    latency_ms: latency,
    time_to_first_token_ms: round3(latency * 0.3),
    input_tokens: between(50, 2000),
    output_tokens: between(10, 500),
    cached_input_tokens: null,
    cost_usd: null,
    outcome: error ? "ERROR" : "SUCCESS",
    error_message: error ? "upstream timeout" : null,
    error_type: error ? "TIMEOUT" : null,
    http_status: error ? 504 : 200,
    quality_score: round3(random()),
    retry_count: 0,
    cache_hit: false,
    stages: [
      { name: "retrieval", duration_ms: round3(latency * 0.2), attributes: {} },
      { name: "generation", duration_ms: round3(latency * 0.7), attributes: {} },
    ],
    custom: {},
    sample_rate: 1.0,
  };
}

async function main(): Promise<number> {
  registerLz4();
  const type = loadSchema(args.schema!);
  const schemaId = Number(args["schema-id"]);
  const kafka = new Kafka({ clientId: "typescript-example", brokers: args.bootstrap!.split(","), logLevel: logLevel.WARN });
  // Idempotence needs one request in flight per broker in kafkajs; the topics are created by the pipeline, not here.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: librdkafkaPartitioner });
  await producer.connect();
  const now = Date.now();
  const ids: string[] = [];
  let inputTokens = 0;
  let batch: Message[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    // acks -1 (all): send resolves only when every in-sync replica has each record, and throws otherwise.
    await producer.send({ topic: args.topic!, acks: -1, compression: CompressionTypes.LZ4, messages: batch });
    batch = [];
  };
  try {
    for (let i = 0; i < Number(args.count); i++) {
      const call = makeCall(now);
      // isValid first: a wrong field is named here, instead of an opaque encoder error.
      const problems: string[] = [];
      if (!type.isValid(call, { errorHook: (p: string[]) => problems.push(p.join(".")) })) {
        throw new Error(`event does not match llm_call.avsc at ${problems.join(", ")}`);
      }
      batch.push({ key: seriesKey(call), value: frame(schemaId, type.toBuffer(call)) });
      ids.push(call.event_id);
      inputTokens += call.input_tokens;
      if (batch.length >= 500) await flush();
    }
    await flush();
  } finally {
    await producer.disconnect();
  }
  if (args["ids-file"]) fs.writeFileSync(args["ids-file"], ids.join("\n") + "\n");
  console.log(JSON.stringify({ sent: ids.length, input_tokens: inputTokens, topic: args.topic }));
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error("error:", err instanceof Error ? err.message : err);
  process.exit(1);
});

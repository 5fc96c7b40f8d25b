// Reads the pipeline's alert topic from TypeScript and prints each alert as one JSON line.
//
// For alert-topic subscribers: records are Avro behind the 5-byte Confluent header, written with
// schemas/alert.avsc (catalogue id 5) or, by older workers, alert.v2.avsc (id 4) or alert.v1.avsc (id 3); each is
// resolved to the current schema. Forward the lines to a pager, chat or ticket system instead of printing them.
//
// Run: node dist/alerts_subscriber.js --bootstrap 127.0.0.1:9092 [--topic llm.alerts.v1] [--from-beginning] [--max N] [--timeout S]
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";
import { ALERT_WRITERS, SCHEMAS, loadSchema, registerLz4, unframe } from "./wire.js";

const { values: args } = parseArgs({
  options: {
    bootstrap: { type: "string" },
    topic: { type: "string", default: "llm.alerts.v1" },
    group: { type: "string", default: "alerts-subscriber-typescript" },
    "from-beginning": { type: "boolean", default: false },
    max: { type: "string", default: "0" },
    timeout: { type: "string", default: "0" },
    schemas: { type: "string", default: SCHEMAS },
  },
});
if (!args.bootstrap) {
  console.error("error: --bootstrap HOST:PORT is required");
  process.exit(2);
}

const TIMESTAMPS = ["window_start", "window_end", "started_at", "resolved_at", "acked_at"];

async function main(): Promise<number> {
  registerLz4();
  const reader = loadSchema(path.join(args.schemas!, "alert.avsc"));
  const resolvers = new Map(Object.entries(ALERT_WRITERS).map(([id, file]) =>
    [Number(id), reader.createResolver(loadSchema(path.join(args.schemas!, file)))]));
  const max = Number(args.max);
  const timeoutMs = Number(args.timeout) * 1000;
  const kafka = new Kafka({ clientId: "alerts-subscriber-typescript", brokers: args.bootstrap!.split(","), logLevel: logLevel.WARN });
  const consumer = kafka.consumer({ groupId: args.group!, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic: args.topic!, fromBeginning: args["from-beginning"] });
  let seen = 0;
  let lastSeen = Date.now();
  await new Promise<void>((resolve, reject) => {
    const idle = timeoutMs > 0 ? setInterval(() => { if (Date.now() - lastSeen >= timeoutMs) resolve(); }, 200) : undefined;
    const done = () => { if (idle) clearInterval(idle); resolve(); };
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (max > 0 && seen >= max) return;
        lastSeen = Date.now();
        const framed = unframe(message.value);
        const resolver = framed && resolvers.get(framed.schemaId);
        if (!framed || !resolver) {
          console.error(`skipped a record at ${partition}/${message.offset}: ${framed ? `schema id ${framed.schemaId} is not an alert schema this script knows` : "not a framed Avro record"}`);
          return;
        }
        const alert = reader.fromBuffer(framed.body, resolver) as Record<string, unknown>;
        for (const field of TIMESTAMPS) {
          if (typeof alert[field] === "number") alert[field] = new Date(alert[field] as number).toISOString();
        }
        console.log(JSON.stringify(alert));
        if (max > 0 && ++seen >= max) done();
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error("error:", err instanceof Error ? err.message : err);
  process.exit(1);
});

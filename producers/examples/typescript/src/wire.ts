// What every producer and subscriber of the pipeline's topics shares: the Confluent framing and the series key.
import * as fs from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import avro from "avsc";
import { CompressionCodecs, CompressionTypes, type PartitionerArgs } from "kafkajs";
import * as lz4 from "lz4js";

/** schemas/ of this repository (override with --schema / --schemas). */
export const SCHEMAS = path.resolve(__dirname, "..", "..", "..", "..", "schemas");

/** The catalogue's id of schemas/llm_call.avsc (schemas/Pipeline.Schemas/SchemaCatalog.cs), unless a Schema Registry numbers it. */
export const LLM_CALL_ID = 1;

/** Catalogue ids of the alert schemas: older alert workers wrote the older ones. */
export const ALERT_WRITERS: Record<number, string> = { 3: "alert.v1.avsc", 4: "alert.v2.avsc", 5: "alert.avsc" };

const SEPARATOR = "\u001f";

export function loadSchema(file: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(fs.readFileSync(file, "utf8")));
}

/** Magic byte 0, the schema id as a big-endian int32, then the Avro binary body. */
export function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(0, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

/** The schema id and body of a framed record; null when it is not one. */
export function unframe(value: Buffer | null): { schemaId: number; body: Buffer } | null {
  if (value === null || value.length < 5 || value[0] !== 0) return null;
  return { schemaId: value.readInt32BE(1), body: value.subarray(5) };
}

export interface SeriesFields {
  environment: string;
  service: string;
  prompt_name: string;
  prompt_version: string;
  request_model: string;
}

/** The record key: the series' five fields joined by U+001F, so one series stays on one partition. */
export function seriesKey(c: SeriesFields): Buffer {
  return Buffer.from([c.environment, c.service, c.prompt_name, c.prompt_version, c.request_model].join(SEPARATOR), "utf8");
}

/**
 * librdkafka's default partitioner (consistent_random: CRC-32 of the key modulo the partition count), which our
 * .NET SDK and the Python example use. kafkajs's own default is Java's murmur2: a series sent from TypeScript
 * would then land on another partition than the same series sent from .NET, and two partitions would each hold
 * a part of one window (the aggregator windows per partition).
 */
export const librdkafkaPartitioner = () => ({ partitionMetadata, message }: PartitionerArgs): number => {
  const key = message.key;
  const n = partitionMetadata.length;
  if (key === null || key === undefined) return Math.floor(Math.random() * n);
  return crc32(typeof key === "string" ? Buffer.from(key, "utf8") : key) % n;
};

/**
 * The pipeline's producers (SDK and workers) compress with lz4, which kafkajs cannot read without a codec: a
 * consumer would fail on every batch (KafkaJSNotImplemented: LZ4 compression not implemented). lz4js is plain
 * JavaScript (LZ4 frame format, as Kafka uses it), so nothing is compiled or downloaded at install.
 */
export function registerLz4(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => Buffer.from(lz4.compress(encoder.buffer)),
    decompress: async (buffer: Buffer) => Buffer.from(lz4.decompress(buffer)),
  });
}

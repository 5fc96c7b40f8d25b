#!/usr/bin/env python3
"""Publishes LlmCall events to the pipeline from Python, with nothing but the .avsc file.

What a service team's own producer must do, shown end to end:
  * encode with schemas/llm_call.avsc (Avro binary) behind the 5-byte Confluent header
    (magic byte 0, then the schema id as a big-endian int: 1, the catalogue's llm_call id, unless your
    producers and the aggregator share a Schema Registry);
  * key each record by its series, so one series stays on one partition (the aggregator's windows and
    watermarks are per partition): environment, service, prompt_name, prompt_version and request_model
    joined by the unit separator U+001F;
  * produce with acks=all and idempotence, and wait for every delivery report.

Uses Debian's python3-confluent-kafka and python3-avro (apt-get install python3-confluent-kafka python3-avro).
Run: /usr/bin/python3 produce_calls.py --bootstrap 127.0.0.1:9092 --topic llm.calls.v1 --count 100
"""
import argparse
import datetime
import io
import json
import os
import random
import struct
import sys
import uuid

import avro.io
import avro.schema
from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "..", "..", "schemas", "llm_call.avsc")
CATALOGUE_ID = 1
SEPARATOR = "\u001f"


def series_key(call):
    return SEPARATOR.join([call["environment"], call["service"], call["prompt_name"], call["prompt_version"], call["request_model"]]).encode("utf-8")


def frame(writer, call, schema_id):
    out = io.BytesIO()
    out.write(b"\x00" + struct.pack(">i", schema_id))
    writer.write(call, avro.io.BinaryEncoder(out))
    return out.getvalue()


def make_call(rng, now, environment, service):
    version = rng.choice(["1.0", "1.1"])
    error = rng.random() < 0.05
    latency = round(rng.lognormvariate(6.5, 0.4), 3)
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        # A timezone-aware datetime: the library writes timestamp-millis from it.
        "occurred_at": now - datetime.timedelta(milliseconds=rng.randint(0, 60_000)),
        "environment": environment,
        "service": service,
        "operation": "chat",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "prompt_name": "python_example",
        "prompt_version": version,
        "request_id": None,
        "trace_id": None,
        "tags": {"language": "python"},
        "latency_ms": latency,
        "time_to_first_token_ms": round(latency * 0.3, 3),
        "input_tokens": rng.randint(50, 2000),
        "output_tokens": rng.randint(10, 500),
        "cached_input_tokens": None,
        "cost_usd": None,
        "outcome": "ERROR" if error else "SUCCESS",
        "error_message": "upstream timeout" if error else None,
        "error_type": "TIMEOUT" if error else None,
        "http_status": 504 if error else 200,
        "quality_score": round(rng.random(), 3),
        "retry_count": 0,
        "cache_hit": False,
        "stages": [
            {"name": "retrieval", "duration_ms": round(latency * 0.2, 3), "attributes": {}},
            {"name": "generation", "duration_ms": round(latency * 0.7, 3), "attributes": {}},
        ],
        "custom": {},
        "sample_rate": 1.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    parser.add_argument("--topic", default="llm.calls.v1")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--environment", default="dev")
    parser.add_argument("--service", default="python-example")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="path to llm_call.avsc")
    parser.add_argument("--schema-id", type=int, default=CATALOGUE_ID)
    parser.add_argument("--ids-file", help="write the event ids sent, one per line (for reconciliation)")
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = avro.schema.parse(f.read())
    writer = avro.io.DatumWriter(schema)
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
        "compression.type": "lz4",
    })
    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(str(err))

    rng = random.Random(args.seed)
    now = datetime.datetime.now(datetime.timezone.utc)
    ids, input_tokens = [], 0
    for _ in range(args.count):
        call = make_call(rng, now, args.environment, args.service)
        while True:
            try:
                producer.produce(args.topic, key=series_key(call), value=frame(writer, call, args.schema_id), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)  # the local queue is full: serve delivery reports, then try again
        producer.poll(0)
        ids.append(call["event_id"])
        input_tokens += call["input_tokens"]
    left = producer.flush(60)
    if left or failures:
        print(f"error: {left} events not acknowledged, {len(failures)} failed: {failures[:3]}", file=sys.stderr)
        return 1
    if args.ids_file:
        with open(args.ids_file, "w", encoding="utf-8") as f:
            f.write("\n".join(ids) + "\n")
    print(json.dumps({"sent": len(ids), "input_tokens": input_tokens, "topic": args.topic}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

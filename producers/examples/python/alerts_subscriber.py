#!/usr/bin/env python3
"""Reads the pipeline's alert topic from Python and prints each alert as one JSON line.

For alert-topic subscribers: records are Avro behind the 5-byte Confluent header, written with
schemas/alert.avsc (catalogue id 5) or, by older workers, alert.v2.avsc (id 4) or alert.v1.avsc (id 3); the
reader resolves each to the current schema. Forward the lines to a pager, chat or ticket system instead of printing them.

Uses Debian's python3-confluent-kafka and python3-avro.
Run: /usr/bin/python3 alerts_subscriber.py --bootstrap 127.0.0.1:9092 [--topic llm.alerts.v1] [--from-beginning] [--max N]
"""
import argparse
import datetime
import io
import json
import os
import struct
import sys
import uuid

import avro.io
import avro.schema
from confluent_kafka import Consumer

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "..", "schemas")
# Catalogue ids of the alert schemas (schemas/Pipeline.Schemas/SchemaCatalog.cs): older workers wrote the older ones.
WRITERS = {3: "alert.v1.avsc", 4: "alert.v2.avsc", 5: "alert.avsc"}


def load(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
        return avro.schema.parse(f.read())


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="llm.alerts.v1")
    parser.add_argument("--group", default="alerts-subscriber-python")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max", type=int, default=0, help="stop after this many alerts (0: run until Ctrl-C)")
    parser.add_argument("--timeout", type=float, default=0, help="stop after this many seconds without an alert (0: never)")
    args = parser.parse_args()

    reader_schema = load("alert.avsc")
    readers = {sid: avro.io.DatumReader(load(name), reader_schema) for sid, name in WRITERS.items()}
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.auto.commit": True,
    })
    consumer.subscribe([args.topic])
    seen, idle = 0, 0.0
    try:
        while args.max == 0 or seen < args.max:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 0.5
                if args.timeout and idle >= args.timeout:
                    break
                continue
            if msg.error():
                print(f"kafka: {msg.error()}", file=sys.stderr)
                continue
            idle = 0.0
            value = msg.value()
            if value is None or len(value) < 5 or value[0] != 0:
                print(f"skipped a record at {msg.partition()}/{msg.offset()}: not a framed Avro record", file=sys.stderr)
                continue
            schema_id = struct.unpack(">i", value[1:5])[0]
            if schema_id not in readers:
                print(f"skipped a record at {msg.partition()}/{msg.offset()}: schema id {schema_id} is not an alert schema this script knows", file=sys.stderr)
                continue
            alert = readers[schema_id].read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))
            print(json.dumps({k: plain(v) for k, v in alert.items()}), flush=True)
            seen += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

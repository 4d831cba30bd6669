#!/usr/bin/env python3
"""`make bench-broker`: what the embedded Tansu broker costs per consumer and per message.

Starts a private Tansu (memory-only, a free port) for each measurement and reports Tansu's CPU (user +
system, % of one core) while:
  1. one consumer of a 4-partition topic waits for data, at several fetch.wait.max.ms values;
  2. a producer sends 1,000 messages/s (600 bytes) that one consumer reads, for 4 s twice in a row
     (the second time with the first 4 s of messages retained), at several linger.ms values: the
     number of record batches a partition retains is what the fetch cost grows with;
  3. the same as 2 with Tansu's default of one Tokio worker thread per core;
  4. one hop (a message produced until a waiting consumer has it) as a partition's history grows, one
     record batch per message as at low rates: the fetch that finds new data lists every batch its
     partition holds, and once that takes longer than fetch.wait.max.ms the consumer receives nothing
     again ("stalled"). scripts/kafka-keeper.py empties the embedded broker before that.

Usage: scripts/bench-broker.py [--tansu .deps/bin/tansu] [--history]   (uses the confluent-kafka of .deps/venv)
"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Broker:
    def __init__(self, tansu, threads):
        self.port = free_port()
        env = dict(os.environ)
        if threads:
            env["TOKIO_WORKER_THREADS"] = str(threads)
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.servers = f"127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        admin = AdminClient({"bootstrap.servers": self.servers})  # kept alive until the topic exists
        for future in admin.create_topics([NewTopic("t", 4, 1)]).values():
            future.result()

    def cpu_percent(self, seconds, during=None):
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        before, started = cpu_ticks(self.process.pid), time.time()
        if during:
            during()
        else:
            time.sleep(seconds)
        elapsed = time.time() - started
        return 100 * (cpu_ticks(self.process.pid) - before) / ticks_per_second / elapsed

    def stop(self):
        self.process.kill()
        self.process.wait()


class Reader(threading.Thread):
    def __init__(self, servers, fetch_wait_ms):
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": servers, "group.id": "bench", "enable.auto.commit": False, "log_level": 2,
                                  "fetch.wait.max.ms": fetch_wait_ms})
        self.consumer.assign([TopicPartition("t", p, 0) for p in range(4)])
        self.stopping = False
        self.read = 0

    def run(self):
        while not self.stopping:
            if self.consumer.poll(0.05) is not None:
                self.read += 1
        self.consumer.close()

    def stop(self):
        self.stopping = True
        self.join()


def idle_consumer(tansu, fetch_wait_ms):
    broker = Broker(tansu, 1)
    reader = Reader(broker.servers, fetch_wait_ms)
    reader.start()
    time.sleep(2)
    percent = broker.cpu_percent(5)
    reader.stop()
    broker.stop()
    return percent


def flowing(tansu, linger_ms, threads, rate=1000, seconds=4):
    broker = Broker(tansu, threads)
    reader = Reader(broker.servers, 1)
    reader.start()
    producer = Producer({"bootstrap.servers": broker.servers, "linger.ms": linger_ms, "acks": "all", "log_level": 2,
                         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1})
    time.sleep(1)

    def send():
        started, n = time.time(), 0
        while time.time() - started < seconds:
            delay = started + n / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            producer.produce("t", b"x" * 600, key=str(n).encode())
            producer.poll(0)
            n += 1
        producer.flush()

    first = broker.cpu_percent(seconds, send)
    second = broker.cpu_percent(seconds, send)
    reader.stop()
    broker.stop()
    return first, second


def hop_ms(broker, producer, fetch_wait_ms, samples=9):
    """Median ms from sending one record to topic h until a consumer waiting at its end has it; None: stalled."""
    consumer = Consumer({"bootstrap.servers": broker.servers, "group.id": "hop", "enable.auto.commit": False,
                         "log_level": 2, "fetch.wait.max.ms": fetch_wait_ms})
    end = consumer.get_watermark_offsets(TopicPartition("h", 0), timeout=5, cached=False)[1]
    consumer.assign([TopicPartition("h", 0, end)])
    warm_until = time.time() + 0.5
    while time.time() < warm_until:
        consumer.poll(0.05)
    times = []
    for _ in range(samples):
        started = time.time()
        producer.produce("h", b"y", partition=0)
        producer.poll(0)
        while time.time() - started < 2:
            message = consumer.poll(0.05)
            if message is not None and not message.error():
                times.append(1000 * (time.time() - started))
                break
        else:
            consumer.close()
            return None
    consumer.close()
    return sorted(times)[len(times) // 2]


def history(tansu, sizes=(100, 1000, 1500, 2000, 4000, 8000), waits=(1, 5, 20)):
    broker = Broker(tansu, 1)
    admin = AdminClient({"bootstrap.servers": broker.servers})  # kept alive until the topic exists
    admin.create_topics([NewTopic("h", 1, 1)])["h"].result()
    producer = Producer({"bootstrap.servers": broker.servers, "linger.ms": 0, "acks": "all", "log_level": 2,
                         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1})
    rows, held = [], 0
    for size in sizes:
        while held < size:
            producer.produce("h", b"x" * 300, partition=0)
            producer.flush()  # one record batch per message
            held += 1
        cells = []
        for wait in waits:
            median = hop_ms(broker, producer, wait)
            held += 9 if median is not None else 1
            cells.append("stalled" if median is None else f"{median:.1f} ms")
        rows.append((size, cells))
        print(f"   {size:>5} batches: " + ", ".join(f"wait {w} ms: {c}" for w, c in zip(waits, cells)), flush=True)
    broker.stop()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--tansu", default=os.path.join(root, ".deps", "bin", "tansu"))
    parser.add_argument("--history", action="store_true", help="measure only 4., the hop as history grows")
    args = parser.parse_args()
    if args.history:
        print("One hop (median of 9) as one partition's history grows, by fetch.wait.max.ms", flush=True)
        history(args.tansu)
        return
    print("Tansu CPU, % of one core (one Tokio worker unless said)")
    print("\n1. one idle consumer, by fetch.wait.max.ms")
    for wait in (1, 2, 5, 20, 100, 500):
        print(f"   {wait:>4} ms: {idle_consumer(args.tansu, wait):5.1f}%", flush=True)
    print("\n2. 1,000 messages/s produced and read: first 4 s / next 4 s (with the first 4,000 retained)")
    for linger in (0, 2, 5, 20):
        first, second = flowing(args.tansu, linger, 1)
        print(f"   linger.ms {linger:>2}: {first:5.1f}% / {second:5.1f}%", flush=True)
    first, second = flowing(args.tansu, 0, None)
    print(f"\n3. linger.ms 0, one Tokio worker per core (Tansu's default): {first:5.1f}% / {second:5.1f}%")
    print("\n4. one hop (median of 9) as one partition's history grows, by fetch.wait.max.ms", flush=True)
    history(args.tansu)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Keeps the embedded Tansu broker's history short: restarts it before its fetches stall.

Why: Tansu 0.6's memory engine keeps every record batch (retention is not enforced, DeleteRecords is
not implemented), and each fetch that finds new data lists every batch its partition holds. Past about
1,800 batches in one partition (fewer on a busy machine) that listing takes longer than a 1 ms
`fetch.wait.max.ms`, and the consumer never receives anything again: the pipeline stops
(docs/benchmarks.md, "The embedded broker's history"). Restarting the broker empties it; Chorus
survives that, since PostgreSQL is the source of truth (the reconciler re-drives what was in flight).

Every CHORUS_KAFKA_KEEPER_INTERVAL seconds (default 2) this reads every partition's high watermark.
Once the fullest partition holds CHORUS_KAFKA_KEEPER_ROTATE_AT records (default 500), the broker is
restarted at the first drained moment:
- nothing was produced since the previous check;
- every Chorus input topic has been read to its end by its stage's group (running, stopped, or not
  started yet), so a request waiting for a stopped ingest is never dropped;
- every other active consumer group has read what it reads;
- a last look just before the kill finds nothing new.
If no such moment comes before the fullest partition holds CHORUS_KAFKA_KEEPER_FORCE_AT records
(default 1200), the broker is restarted anyway, because a stalled broker loses more. What was in flight
inside the pipeline is then resumed from PostgreSQL, and a request that ingest had not yet read must be
published again by its client (the same id is the same request), as after any broker crash. A steady
load that forces restarts is load for a real Kafka cluster (compose/).

The restart is a kill -9 (memory only: nothing to flush), then `scripts/stack.sh kafka-rotate` (same
port, same environment); the topics are then created again with their partition counts. Started and
stopped by scripts/stack.sh; logs to stderr.
Usage: scripts/kafka-keeper.py --port N --pidfile RUN/tansu.pid
"""
import argparse
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Each Chorus stage's consumer group (`<namespace>-<stage>`) and the topic it reads (`<namespace>.<topic>`).
STAGE_INPUTS = {"ingest": "requests", "dispatcher": "accepted", "provider-worker": "calls.remote",
                "gpu-inference": "calls.local", "judge": "fusion", "billing": "usage"}
ACTIVE = {"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE"}


def say(message):
    print(time.strftime("%Y-%m-%dT%H:%M:%S") + " kafka-keeper: " + message, file=sys.stderr, flush=True)


class Keeper:
    def __init__(self, port, pidfile, rotate_at, force_at, root):
        self.servers, self.pidfile = f"127.0.0.1:{port}", pidfile
        self.rotate_at, self.force_at, self.root = rotate_at, force_at, root
        self.previous = {}
        self.rotations = 0
        self.waiting = None
        self.connect()

    def connect(self):
        quiet = {"bootstrap.servers": self.servers, "log_level": 0, "socket.timeout.ms": 5000}
        self.admin = AdminClient(quiet)
        self.reader = Consumer(dict(quiet, **{"group.id": "chorus-kafka-keeper", "enable.auto.commit": False}))

    def topics(self):
        """{topic: partition count}, Kafka's own topics left out."""
        metadata = self.admin.list_topics(timeout=5)
        return {name: len(t.partitions) for name, t in metadata.topics.items()
                if not name.startswith("__") and t.error is None}

    def watermarks(self, topics):
        return {(name, p): self.reader.get_watermark_offsets(TopicPartition(name, p), timeout=5, cached=False)[1]
                for name, count in topics.items() for p in range(count)}

    def true_ends(self, ends):
        """Each partition's real end. Tansu reports as high watermark the last record batch's base offset
        plus one, short of the end when that batch holds several records: read that batch to know."""
        tail = [TopicPartition(topic, partition, end - 1) for (topic, partition), end in ends.items() if end > 0]
        if not tail:
            return dict(ends)
        self.reader.assign(tail)
        last = {}
        deadline = time.monotonic() + 5
        while len(last) < len(tail) and time.monotonic() < deadline:
            for message in self.reader.consume(num_messages=1000, timeout=0.2):
                if message.error() is None:
                    key = (message.topic(), message.partition())
                    last[key] = max(last.get(key, -1), message.offset())
        self.reader.unassign()
        if len(last) < len(tail):
            raise RuntimeError(f"could not read the last batch of {len(tail) - len(last)} partitions")
        return {key: (last[key] + 1 if key in last else end) for key, end in ends.items()}

    def lagging_groups(self, ends):
        """What still has records to read. Each Chorus input topic (`<namespace>.requests`, ...) must have
        been read to its end by its stage's group (`<namespace>-ingest`, ...), whether that stage runs,
        is stopped, or has not started yet; any other group only if it is active, on what it committed."""
        listed = {listing.group_id for listing in self.admin.list_consumer_groups().result(timeout=5).valid}
        must_read = {}  # group -> the partitions it must have read, beyond those it committed
        for (topic, partition), end in ends.items():
            for stage, source in STAGE_INPUTS.items():
                if end > 0 and topic.endswith("." + source):
                    must_read.setdefault(f"{topic[: -len(source) - 1]}-{stage}", set()).add((topic, partition))
        for group in listed - must_read.keys() - {"chorus-kafka-keeper"}:
            if group.endswith(tuple("-" + stage for stage in STAGE_INPUTS)):
                must_read[group] = set()
            elif self.admin.describe_consumer_groups([group])[group].result(timeout=5).state.name in ACTIVE:
                must_read[group] = set()  # a finished reader (`chorus tail`, a test's) is left out
        lagging = []
        for group, partitions in sorted(must_read.items()):
            committed = {}
            if group in listed:
                request = [ConsumerGroupTopicPartitions(group)]
                committed = {(tp.topic, tp.partition): tp.offset for tp in
                             self.admin.list_consumer_group_offsets(request)[group].result(timeout=5).topic_partitions
                             if tp.offset >= 0}
            read = {key: 0 for key in partitions}  # a partition never committed is unread
            read.update(committed)
            for (topic, partition), offset in sorted(read.items()):
                end = ends.get((topic, partition))
                if end is not None and offset < end:
                    lagging.append(f"{group} on {topic}[{partition}] at {offset} of {end}")
                    break
        return lagging

    def check(self):
        topics = self.topics()
        ends = self.watermarks(topics)
        quiet = ends == self.previous
        self.previous = ends
        if not ends:
            return
        (topic, partition), fullest = max(ends.items(), key=lambda item: item[1])
        if fullest < self.rotate_at:
            return
        where = f"{topic}[{partition}] holds {fullest} records"
        if fullest >= self.force_at:
            self.rotate(topics, f"{where} (forced at {self.force_at}: no drained moment came)")
        elif quiet:
            ends_reported = ends
            lagging = self.lagging_groups(self.true_ends(ends))
            if lagging:
                waiting = f"{where}; rotation waits for {lagging[0]}"
                if waiting != self.waiting:  # said once, not every check
                    say(waiting)
                self.waiting = waiting
            elif self.watermarks(topics) == ends_reported:  # a last look: still nothing new
                self.rotate(topics, f"{where}, drained")

    def rotate(self, topics, why):
        started = time.monotonic()
        say(f"restarting the broker: {why}")
        try:  # at once: the stack script takes tens of milliseconds to start
            with open(self.pidfile) as pid:
                os.kill(int(pid.read().strip()), signal.SIGKILL)
        except (OSError, ValueError) as error:
            say(f"could not kill the broker through {self.pidfile} ({error}); the stack script will")
        self.reader.close()
        result = subprocess.run([os.path.join(self.root, "scripts", "stack.sh"), "kafka-rotate"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            say(f"kafka-rotate failed ({result.returncode}): {result.stderr.strip()[-400:]}")
        self.connect()
        created = self.admin.create_topics([NewTopic(name, count, 1) for name, count in topics.items()])
        for name, future in created.items():
            try:
                future.result(timeout=10)
            except Exception as error:  # a service may have created it first: that is fine
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    say(f"could not create {name} again: {error}")
        self.rotations += 1
        self.previous = {}
        say(f"rotation {self.rotations} done in {time.monotonic() - started:.1f} s ({len(topics)} topics created again)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", required=True, help="the broker's pid file (scripts/stack.sh writes it)")
    args = parser.parse_args()
    env = os.environ
    rotate_at = int(env.get("CHORUS_KAFKA_KEEPER_ROTATE_AT", "500"))
    force_at = int(env.get("CHORUS_KAFKA_KEEPER_FORCE_AT", "1200"))
    interval = float(env.get("CHORUS_KAFKA_KEEPER_INTERVAL", "2"))
    if not 0 < rotate_at <= force_at:
        sys.exit(f"kafka-keeper: CHORUS_KAFKA_KEEPER_ROTATE_AT ({rotate_at}) must be positive and at most "
                 f"CHORUS_KAFKA_KEEPER_FORCE_AT ({force_at})")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    keeper = Keeper(args.port, args.pidfile, rotate_at, force_at, root)
    say(f"watching 127.0.0.1:{args.port}: rotate at {rotate_at} records in a partition when drained, "
        f"at {force_at} regardless; every {interval:g} s")
    while True:
        try:
            keeper.check()
        except Exception as error:  # the broker restarting, or a slow answer: try again next time
            say(f"check failed: {error}")
            keeper.previous = {}
        time.sleep(interval)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Ships this node's logs to CloudWatch Logs, from the first boot on.

One process per node, started before kubeadm runs, so a node that never joins
still leaves its log. Sources come from a JSON file: journald units, or files
(followed across rotation). Each source goes to one log group, in a stream
named <instance-id>/<source>. Events are sent in batches through the AWS CLI
(no agent to download), within CloudWatch's limits (10,000 events, 1 MiB,
24 hours per batch). Journal cursors and file offsets are saved, so a restart
resumes where it stopped. Standard library only: python3 ships with Ubuntu.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.environ.get("KUBEADM_AWS_ROOT", "")
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576 - 4096
EVENT_OVERHEAD = 26
FLUSH_SECONDS = float(os.environ.get("LOG_FLUSH_SECONDS", "5"))
POLL_SECONDS = float(os.environ.get("LOG_POLL_SECONDS", "1"))
STATE_DIR = ""  # set from the configuration


def log(message):
    print(f"kubeadm-aws[log-shipper]: {message}", file=sys.stderr, flush=True)


def aws(region, *args):
    result = subprocess.run(["aws", "--region", region, "--output", "json", *args], capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


class Stream:
    """One log stream: batches events and sends them in order."""

    def __init__(self, region, group, name):
        self.region, self.group, self.name = region, group, name
        self.events, self.size, self.created = [], 0, False
        self.lock = threading.Lock()

    def add(self, timestamp_ms, message):
        message = message[:200_000] or " "
        with self.lock:
            cost = len(message.encode()) + EVENT_OVERHEAD
            if self.events and (len(self.events) >= MAX_EVENTS or self.size + cost > MAX_BYTES or timestamp_ms - self.events[0]["timestamp"] > 23 * 3600_000):
                self._flush_locked()
            self.events.append({"timestamp": timestamp_ms, "message": message})
            self.size += cost

    def flush(self):
        with self.lock:
            self._flush_locked()

    def _flush_locked(self):
        if not self.events:
            return
        if not self.created:
            code, out = aws(self.region, "logs", "create-log-stream", "--log-group-name", self.group, "--log-stream-name", self.name)
            self.created = code == 0 or "ResourceAlreadyExistsException" in out
            if not self.created:
                log(f"cannot create stream {self.group}/{self.name}: {out.strip()}")
                return
        events = sorted(self.events, key=lambda e: e["timestamp"])
        batch = {"logGroupName": self.group, "logStreamName": self.name, "logEvents": events}
        path = os.path.join(STATE_DIR, f"batch-{threading.get_ident()}.json")
        with open(path, "w") as f:
            json.dump(batch, f)
        for attempt in range(5):
            code, out = aws(self.region, "logs", "put-log-events", "--cli-input-json", f"file://{path}")
            if code == 0:
                self.events, self.size = [], 0
                break
            log(f"put-log-events to {self.group}/{self.name} failed (attempt {attempt + 1}): {out.strip()[:300]}")
            time.sleep(min(2 ** attempt, 30))
        os.remove(path)


def follow_journal(source, stream):
    cursor_file = os.path.join(STATE_DIR, f"{source['name']}.cursor")
    args = ["journalctl", "--follow", "--output=json", f"--cursor-file={cursor_file}"]
    for unit in source["units"]:
        args += ["--unit", unit]
    if not os.path.exists(cursor_file):
        args.append("--boot")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("MESSAGE", "")
        if isinstance(message, list):
            message = bytes(message).decode("utf-8", "replace")
        unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER", "")
        stream.add(int(entry.get("__REALTIME_TIMESTAMP", time.time() * 1e6)) // 1000, f"{unit}: {message}")


def follow_files(source, stream):
    """Follows every file matching the source's globs, from where it stopped, across rotation."""
    import glob

    offsets_file = os.path.join(STATE_DIR, f"{source['name']}.offsets")
    try:
        with open(offsets_file) as f:
            offsets = json.load(f)
    except (OSError, ValueError):
        offsets = {}
    inodes = {}  # path -> the inode last read there
    saved = dict(offsets)
    while True:
        for pattern in source["files"]:
            for path in sorted(glob.glob(ROOT + pattern)):
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                key = f"{stat.st_ino}"
                rotated = inodes.get(path) not in (None, key)
                inodes[path] = key
                if rotated:
                    # Rotated since the last pass: the next pass drains the old file (under its new name, which
                    # sorts first) before it reads this one, so lines keep their order across the rotation.
                    continue
                offset = offsets.get(key, 0)
                if stat.st_size < offset:
                    offset = 0  # truncated
                if stat.st_size == offset:
                    continue
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
                complete = data.rfind(b"\n") + 1
                for raw in data[:complete].splitlines():
                    stream.add(int(time.time() * 1000), raw.decode("utf-8", "replace"))
                offsets[key] = offset + complete
        if offsets != saved:
            save_atomically(offsets_file, offsets)
            saved = dict(offsets)
        time.sleep(POLL_SECONDS)


def save_atomically(path, value):
    """A stop between truncate and write would lose every offset, and a restart would send every file again."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(value, f)
    os.replace(temporary, path)


def flusher(streams):
    while True:
        time.sleep(FLUSH_SECONDS)
        for stream in streams:
            stream.flush()


def main():
    global STATE_DIR
    config_path = sys.argv[1] if len(sys.argv) > 1 else f"{ROOT}/etc/kubeadm-aws/log-sources.json"
    with open(config_path) as f:
        config = json.load(f)
    STATE_DIR = ROOT + config["stateDir"]
    os.makedirs(STATE_DIR, exist_ok=True)
    instance = config.get("instanceId") or open(ROOT + "/var/lib/cloud/data/instance-id").read().strip()
    streams, threads = [], []
    for source in config["sources"]:
        stream = Stream(config["region"], source["logGroup"], f"{instance}/{source['name']}")
        streams.append(stream)
        follow = follow_journal if "units" in source else follow_files
        threads.append(threading.Thread(target=follow, args=(source, stream), daemon=True))
    threads.append(threading.Thread(target=flusher, args=(streams,), daemon=True))
    # systemd stops the shipper with SIGTERM: exit through the flush below, so the last batch is not lost.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for thread in threads:
        thread.start()
    log(f"shipping {', '.join(s['name'] for s in config['sources'])} as {instance}")
    try:
        while all(t.is_alive() for t in threads):
            time.sleep(1)
    finally:
        for stream in streams:
            stream.flush()
    sys.exit("a log source stopped; systemd restarts the shipper")


if __name__ == "__main__":
    main()

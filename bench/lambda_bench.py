#!/usr/bin/env python3
"""Cold start and peak memory of the gate Lambdas, side by side with a Python/boto3 baseline.

    python3 bench/lambda_bench.py cold-start [--runs 30] [--bin-dir target/release] [--against DIR]
    python3 bench/lambda_bench.py rss        [--bin-dir target/release]

cold-start: the time from process start (just before the harness forks it) to the first
`GET /2018-06-01/runtime/invocation/next` reaching the stub (bench/runtime_stub.py), then the
process is killed. gate-start, gate-report and bench/python/handler.py are run in interleaved
rounds (shuffled order each round, one warm-up round discarded); medians and ratios come from
the same run. The environment is what the template gives the functions: the AWS_LAMBDA_* and
GATE_* variables, fake credentials and region, the reporter role, an empty HOME.

rss: each binary gets real events from events/ (and bench/events/) one after the other; the
SDK's endpoint is unreachable (AWS_ENDPOINT_URL=http://127.0.0.1:9), so every invocation parses
the event, builds the request, fails fast at the first AWS call and reports an error. VmHWM
(peak RSS) is read from /proc/<pid>/status when the function asks for its next event, i.e.
after each invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_stub import RuntimeStub, load_event  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"


def lambda_env(api: str, function: str, home: str, extra: dict | None = None) -> dict:
    """The environment Lambda gives a provided.al2023 function, plus the template's GATE_*."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/22/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLETOKEN",
        "GATE_STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:gate",
        "GATE_TABLE_NAME": "gate-ledger",
        "GATE_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:gate-failures",
        "GATE_APPROVER_ARN": f"arn:aws:sts::{ACCOUNT}:assumed-role/gate-reporter/codecommit-gate",
        "GATE_REPORTER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/gate-reporter",
        "GATE_APPROVAL_RULE_NAME": "codecommit-gate",
        "GATE_FILE_PATH": ".gate.yml",
        "GATE_ENVIRONMENT_PREFIX": "gate",
    }
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def cases(bin_dir: Path, variants: bool, against: Path | None = None) -> list[tuple[str, list[str], dict]]:
    out = [
        ("gate-start", [str(bin_dir / "gate-start")], {}),
        ("gate-report", [str(bin_dir / "gate-report")], {}),
        ("python-boto3", [sys.executable, str(ROOT / "bench/python/handler.py")], {}),
    ]
    if against:
        # Another build's binaries (e.g. the commit before a change), in the same rounds.
        out.append(("gate-start@against", [str(against / "gate-start")], {}))
        out.append(("gate-report@against", [str(against / "gate-report")], {}))
    if variants:
        # The floor: a shell that sends the `next` request as soon as it runs (fork, exec, bash
        # start-up, connect), for scale.
        floor = 'exec 3<>/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}; printf "GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" >&3; read -r _ <&3'
        out.append(("floor-bash-devtcp", ["/bin/bash", "--norc", "-c", floor], {}))
        # The same binary without the reporter role: no AssumeRoleProvider at start-up.
        out.append(("gate-start-no-role", [str(bin_dir / "gate-start")], {"GATE_REPORTER_ROLE_ARN": None}))
        # The HTTPS client loads the system's root certificates at start-up (rustls-native-certs:
        # SSL_CERT_FILE and every file in SSL_CERT_DIR, else the probed defaults). Two knobs
        # show what that costs: only the CA bundle (one file, as on Lambda's AL2023 images),
        # and a bundle of one certificate (next to no loading).
        empty = tempfile.mkdtemp(prefix="gate-bench-no-certs-")
        one = Path(empty).parent / "gate-bench-one-cert.pem"
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.exists():
            text = bundle.read_text()
            end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----\n")
            one.write_text(text[:end])
            out.append(("gate-start-one-bundle", [str(bin_dir / "gate-start")], {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": empty}))
            out.append(("gate-start-one-cert", [str(bin_dir / "gate-start")], {"SSL_CERT_FILE": str(one), "SSL_CERT_DIR": empty}))
    return out


def cold_once(stub: RuntimeStub, argv: list[str], env: dict) -> float:
    stub.arm()
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = stub.wait_first_next(timeout=30)
    proc.kill()
    proc.wait()
    stub.release()
    if t1 is None:
        raise SystemExit(f"{argv[0]}: no `next` request within 30 s")
    return (t1 - t0) / 1e6


def stub_latency(stub: RuntimeStub, n: int) -> float:
    """Median ms from connect() to the stub recording the request, for an in-process client:
    the stub's own share of every measurement."""
    import socket

    host, port = stub.address.split(":")
    out = []
    for _ in range(n):
        stub.arm()
        t0 = time.perf_counter_ns()
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        t1 = stub.wait_first_next(timeout=5)
        s.close()
        stub.release()
        out.append((t1 - t0) / 1e6)
    return statistics.median(out)


def cold_start(args) -> dict:
    bin_dir = Path(args.bin_dir).resolve()
    stub = RuntimeStub()
    home = tempfile.mkdtemp(prefix="gate-bench-home-")
    all_cases = cases(bin_dir, args.variants, Path(args.against) if args.against else None)
    rng = random.Random(args.seed)
    times: dict[str, list[float]] = {name: [] for name, _, _ in all_cases}
    for round_ in range(args.runs + 1):  # round 0 warms the page cache and .pyc files
        order = list(all_cases)
        rng.shuffle(order)
        for name, argv, extra in order:
            ms = cold_once(stub, argv, lambda_env(stub.address, name, home, extra))
            if round_ > 0:
                times[name].append(ms)
    overhead = stub_latency(stub, args.runs)
    stub.close()

    def summary(xs):
        qs = statistics.quantiles(xs, n=10)
        return {"median": statistics.median(xs), "p10": qs[0], "p90": qs[-1], "min": min(xs), "max": max(xs), "n": len(xs)}

    result = {"runs": args.runs, "stub_latency_ms": overhead, "cases": {k: summary(v) for k, v in times.items()}, "raw_ms": times}
    py = result["cases"]["python-boto3"]["median"]
    print(f"cold start, {args.runs} interleaved runs each (ms from fork to the first `next`; stub's own latency {overhead:.3f} ms)")
    print(f"{'case':<20} {'median':>9} {'p10':>9} {'p90':>9} {'min':>9} {'python/this':>12}")
    for name, s in result["cases"].items():
        print(f"{name:<20} {s['median']:9.2f} {s['p10']:9.2f} {s['p90']:9.2f} {s['min']:9.2f} {py / s['median']:11.1f}x")
    return result


def vm(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM", "VmRSS")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0])  # kB
    except FileNotFoundError:
        pass
    return out


START_EVENTS = ["pr-created", "pr-source-updated", "pr-comment", "pr-closed", "pr-merged"]
REPORT_EVENTS = ["run-failed", "run-succeeded"]


def rss(args) -> dict:
    bin_dir = Path(args.bin_dir).resolve()
    stub = RuntimeStub()
    home = tempfile.mkdtemp(prefix="gate-bench-home-")
    report_events = [ROOT / f"events/{e}.json" for e in REPORT_EVENTS] + sorted((ROOT / "bench/events").glob("report-*.json"))
    plan = [
        ("gate-start", [str(bin_dir / "gate-start")], [ROOT / f"events/{e}.json" for e in START_EVENTS]),
        ("gate-report", [str(bin_dir / "gate-report")], report_events),
        ("python-boto3", [sys.executable, str(ROOT / "bench/python/handler.py")], [ROOT / "events/pr-created.json"]),
    ]
    result = {}
    for name, argv, paths in plan:
        events = [load_event(str(p)) for p in paths]
        samples: list[dict] = []
        pid_box: dict = {}

        def on_next(count, samples=samples, pid_box=pid_box):
            deadline = time.time() + 5
            while "pid" not in pid_box and time.time() < deadline:
                time.sleep(0.001)
            samples.append({"after_invocations": count - 1, **vm(pid_box["pid"])})

        stub.arm(events, on_next=on_next)
        env = lambda_env(stub.address, name, home, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        log = open(Path(tempfile.gettempdir()) / f"gate-bench-{name}.log", "wb")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        pid_box["pid"] = proc.pid
        deadline = time.time() + 60 * (len(events) + 1)
        while stub.next_count < len(events) + 1 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        final = vm(proc.pid)
        proc.kill()
        proc.wait()
        stub.release()
        served = [Path(n).name for _, n in stub.served]
        outcomes = [kind for _, kind, _ in stub.results]
        result[name] = {"samples": samples, "final": final, "served": served, "outcomes": outcomes}
        print(f"{name}: served {len(served)} events, posted {outcomes}")
        for s in samples:
            after = s["after_invocations"]
            label = "init only" if after == 0 else f"after {after} ({served[after - 1]})"
            print(f"  {label:<42} VmHWM {s.get('VmHWM', 0) / 1024:6.1f} MiB   VmRSS {s.get('VmRSS', 0) / 1024:6.1f} MiB")
    stub.close()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cold-start")
    c.add_argument("--runs", type=int, default=30)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--variants", action="store_true", help="also gate-start without the reporter role")
    c.add_argument("--against", help="also the gate-start and gate-report of this folder (another build), in the same rounds")
    r = sub.add_parser("rss")
    for q in (c, r):
        q.add_argument("--bin-dir", default=str(ROOT / "target/release"))
        q.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    result = cold_start(args) if args.command == "cold-start" else rss(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

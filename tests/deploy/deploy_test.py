#!/usr/bin/python3
"""Deployment integration test (issue #8, part 3; run by scripts/test-deploy.sh).

Two llmserve replicas (stories260K) behind nginx (deploy/nginx/nginx.conf) as
the gRPC load balancer, Prometheus from Debian scraping both every second with
the shipped alerting rules. Every assertion about the server's counters is
read from Prometheus's HTTP query API, not from our own scrape.

  LLMSERVE_BIN=build/server/llmserve LLMSERVE_MODEL=models/stories260K/stories260K.bin \
      /usr/bin/python3 tests/deploy/deploy_test.py -v

Tests run in file order (unittest sorts by name: test_1_..., test_2_...), on
one cluster: the load-balancing and dashboard tests first, then failover
(SIGKILL and restart), then drain (SIGTERM).
"""
import json
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import grpc

from cluster import REPO, Nginx, Prometheus, Replica, generate_stubs, wait_until

BIN = os.environ.get("LLMSERVE_BIN", os.path.join(REPO, "build", "server", "llmserve"))
MODEL = os.environ.get("LLMSERVE_MODEL",
                       os.path.join(REPO, "models", "stories260K", "stories260K.bin"))
PROMPTS = ["Once upon a time", "Tom and his dog", "The little girl saw a big",
           "One day, a cat", "Lily wanted to play"]

WORK = tempfile.mkdtemp(prefix="llmserve-deploy-")
pb, pb_grpc, health_pb, HealthStub = generate_stubs(os.path.join(WORK, "stubs"))


class Call:
    """Outcome of one Generate/GenerateStream call as the client saw it."""

    def __init__(self, streaming):
        self.streaming = streaming
        self.code = None
        self.details = ""  # the status message of a failed call
        self.tokens = 0  # completion tokens received
        self.started = self.ended = None
        self.first_token = None  # time.monotonic() of the first token, if any


def generate(stub, prompt, max_tokens, streaming, timeout_s=60.0):
    """Runs one call through `stub`; never raises for a gRPC status."""
    call = Call(streaming)
    request = pb.GenerateRequest(
        text=prompt, sampling_params=pb.SamplingParams(max_tokens=max_tokens, temperature=0.0))
    call.started = time.monotonic()
    try:
        if streaming:
            for message in stub.GenerateStream(request, timeout=timeout_s):
                if message.token_ids and call.first_token is None:
                    call.first_token = time.monotonic()
                call.tokens += len(message.token_ids)
        else:
            response = stub.Generate(request, timeout=timeout_s)
            call.tokens = len(response.token_ids)
        call.code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        call.code = e.code()
        call.details = e.details()
    call.ended = time.monotonic()
    return call


def health_status(address):
    with grpc.insecure_channel(address) as channel:
        return HealthStub(channel).Check(health_pb.HealthCheckRequest(),
                                                      timeout=2).status


def wait_serving(replica):
    wait_until(lambda: health_status(replica.address) == health_pb.HealthCheckResponse.SERVING,
               120, f"{replica.name} SERVING\n{replica.log_tail()}")


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Two sequences per step at most: requests queue, so a drain lasts long
        # enough (about a second) for calls to arrive while it runs.
        cls.replicas = [Replica(f"replica{i}", BIN, MODEL, WORK, ["--max-num-seqs=2"])
                        for i in (1, 2)]
        cls.nginx = Nginx(WORK, cls.replicas)
        cls.prometheus = Prometheus(WORK, cls.replicas)
        for r in cls.replicas:
            r.start()
        for r in cls.replicas:
            wait_serving(r)
        cls.nginx.start()
        cls.prometheus.start()
        cls.channel = grpc.insecure_channel(cls.nginx.address)
        cls.stub = pb_grpc.GenerationStub(cls.channel)
        wait_until(lambda: cls.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=2), 30,
                   "GetModelInfo through nginx")
        # Both targets scraped at least once before anything is counted.
        wait_until(lambda: len(cls.prometheus.query('up{job="llmserve"} == 1')) == 2, 60,
                   "Prometheus scraping both replicas")

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.prometheus.stop()
        cls.nginx.stop()
        for r in cls.replicas:
            r.stop()

    def run_workload(self, n, concurrency, streaming_every=2, max_tokens=(8, 48), seed=0):
        """n calls through nginx, `concurrency` at a time, every
        `streaming_every`-th one streaming; returns the Calls in order."""
        rng = random.Random(seed)
        jobs = [(PROMPTS[i % len(PROMPTS)], rng.randint(*max_tokens), i % streaming_every == 0)
                for i in range(n)]
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda j: generate(self.stub, *j), jobs))

    def total(self, expr):
        return self.prometheus.scalar(f"sum({expr})") or 0.0

    def wait_total(self, expr, expected, what):
        """Waits (scrapes are every second) for sum(expr) to reach `expected`,
        then checks that it equals it exactly."""
        wait_until(lambda: self.total(expr) >= expected, 30, what)
        self.assertEqual(self.total(expr), expected, what)

    # --- 1. load balancing and counters, read from Prometheus -----------------------
    def test_1_balanced_workload_counted_by_prometheus(self):
        calls = self.run_workload(200, 16)
        codes = [c.code for c in calls]
        self.assertEqual(codes.count(grpc.StatusCode.OK), 200, f"statuses: {set(codes)}")
        tokens = sum(c.tokens for c in calls)
        self.assertGreater(tokens, 200)
        self.wait_total("llmserve_request_success_total", 200, "requests counted")
        self.wait_total("llmserve_generation_tokens_total", tokens,
                        "generation tokens = completion tokens received")
        per_instance = self.prometheus.query(
            "sum by (instance) (llmserve_request_success_total)")
        shares = {s["metric"]["instance"]: float(s["value"][1]) for s in per_instance}
        self.assertEqual(set(shares), {r.metrics_target for r in self.replicas})
        for instance, count in shares.items():
            # Round-robin: each replica gets a real share, not a stray request.
            self.assertGreaterEqual(count, 50, f"{instance} served {count} of 200: {shares}")

    def test_2_dashboard_queries_return_series(self):
        with open(os.path.join(REPO, "deploy", "grafana", "dashboards", "llmserve.json")) as f:
            dashboard = json.load(f)
        exprs = []

        def walk(panels):
            for panel in panels:
                exprs.extend((panel.get("title"), t["expr"]) for t in panel.get("targets", [])
                             if "expr" in t)
                walk(panel.get("panels", []))
        walk(dashboard["panels"])
        self.assertGreater(len(exprs), 20)
        # Wait for rate() windows to hold two scrapes after the workload.
        time.sleep(3)
        for title, expr in exprs:
            promql = (expr.replace("$__rate_interval", "1m").replace("$model", ".*")
                      .replace("$instance", ".*"))
            result = self.prometheus.query(promql)
            self.assertTrue(result, f"panel {title!r}: no series for {promql}")
        # Template variables: label_values(<selector>, <label>).
        for var in dashboard["templating"]["list"]:
            definition = var.get("definition", "")
            m = re.fullmatch(r"label_values\((.*), *(\w+)\)", definition)
            if not m:
                continue
            selector = m.group(1).replace("$model", ".*")
            series = self.prometheus.query(selector)
            self.assertTrue(series and all(m.group(2) in s["metric"] for s in series),
                            f"variable {var['name']}: {definition}")

    def test_3_rules_and_config_valid(self):
        subprocess.run(["promtool", "check", "config",
                        os.path.join(REPO, "deploy", "compose", "prometheus.yml")], check=True)
        subprocess.run(["promtool", "check", "rules",
                        os.path.join(REPO, "deploy", "prometheus", "llmserve-rules.yml")],
                       check=True)
        groups = self.prometheus.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        self.assertGreaterEqual(len(rules), 4)
        wait_until(lambda: all(r.get("health") == "ok" for r in
                               (r for g in self.prometheus.api("rules")["groups"]
                                for r in g["rules"])), 30, "every rule evaluated without error")

    # --- 2. failover: SIGKILL one replica mid-workload, then restart it --------------
    def test_4_failover_kill_and_restart(self):
        victim, survivor = self.replicas
        results, kill_time = [], []

        def after_some_done():
            # Kill once a few calls are done and others are mid-stream.
            wait_until(lambda: len(results) >= 6, 60, "first calls done")
            victim.signal(signal.SIGKILL)
            victim.wait(10)
            # Dead and reaped: the kernel has closed its sockets. Calls sent
            # from now on must all be served by the survivor.
            kill_time.append(time.monotonic())

        killer = threading.Thread(target=after_some_done)
        killer.start()
        rng = random.Random(7)

        def one(i):
            call = generate(self.stub, PROMPTS[i % len(PROMPTS)], rng.randint(96, 160),
                            streaming=True, timeout_s=30)
            results.append(call)
            return call
        with ThreadPoolExecutor(8) as pool:
            calls = list(pool.map(one, range(48)))
        killer.join()
        t_kill = kill_time[0]
        failed = [c for c in calls if c.code != grpc.StatusCode.OK]
        for c in failed:
            # In flight on the victim when it died: an error, not a hang.
            self.assertLess(c.started, t_kill, "a call sent after the victim died failed")
            self.assertNotEqual(c.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        after = [c for c in calls if c.started > t_kill]
        self.assertTrue(after, "no call was sent after the kill")
        self.assertTrue(all(c.code == grpc.StatusCode.OK for c in after))
        wait_until(lambda: self.prometheus.scalar(
            f'up{{instance="{victim.metrics_target}"}}') == 0, 30, "Prometheus: victim down")
        self.assertEqual(self.prometheus.scalar(f'up{{instance="{survivor.metrics_target}"}}'), 1)

        # Restart on the same ports; it takes traffic again.
        victim.start()
        wait_serving(victim)
        wait_until(lambda: self.prometheus.scalar(
            f'up{{instance="{victim.metrics_target}"}}') == 1, 30, "Prometheus: victim up")
        time.sleep(3.5)  # nginx's fail_timeout (3s) for the victim runs out

        def victim_served():
            calls = self.run_workload(8, 4, seed=11)
            self.assertTrue(all(c.code == grpc.StatusCode.OK for c in calls))
            return self.total(f'llmserve_request_success_total{{instance="{victim.metrics_target}"}}') > 0
        wait_until(victim_served, 60, "restarted replica serving through nginx", interval_s=1.5)

    # --- 3. drain through the balancer: SIGTERM one replica under load ---------------
    def test_5_drain_loses_nothing(self):
        draining, other = self.replicas[1], self.replicas[0]
        wait_serving(other)
        results = []
        stop_sending = threading.Event()
        term_time = []

        def sender(i):
            calls = []
            rng = random.Random(100 + i)
            while not stop_sending.is_set():
                calls.append(generate(self.stub, PROMPTS[rng.randrange(len(PROMPTS))],
                                      rng.randint(64, 128), streaming=True, timeout_s=60))
            return calls

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(sender, i) for i in range(8)]
            time.sleep(2)  # streams running on both replicas
            term_time.append(time.monotonic())
            draining.signal(signal.SIGTERM)
            exit_code = draining.wait(90)
            exit_time = time.monotonic()
            time.sleep(1)  # and a little after: everything goes to the other replica
            stop_sending.set()
            for f in futures:
                results.extend(f.result())
        self.assertEqual(exit_code, 0, draining.log_tail())
        codes = [c.code for c in results]
        self.assertTrue(all(code == grpc.StatusCode.OK for code in codes),
                        f"lost calls during drain: {[(c.code, c.details, c.tokens, c.started - term_time[0]) for c in results if c.code != grpc.StatusCode.OK]}\n"
                        f"{self.nginx.log_tail()}\n{draining.log_tail()}")
        self.assertTrue(any(c.started < term_time[0] < c.ended for c in results),
                        "no stream was in flight at SIGTERM")
        during = [c for c in results if term_time[0] < c.started < exit_time]
        self.assertTrue(during, "no call was sent during the drain")
        print(f"\ndrain: {exit_time - term_time[0]:.2f}s, {len(during)} calls sent during it, "
              f"{len(results)} calls in all")


if __name__ == "__main__":
    unittest.main()

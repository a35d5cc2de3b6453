"""Processes of a local llmserve deployment for tests: llmserve replicas, nginx
as the gRPC load balancer and Prometheus, all on 127.0.0.1 ports chosen at run
time, plus a generated Python client for llmserve.v1 and grpc.health.v1.

Used by deploy_test.py (scripts/test-deploy.sh). Every process is started in
a scratch folder and killed when the Cluster closes.
"""
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import grpc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout_s, what, interval_s=0.2):
    """Polls predicate() until it returns a true value (returned) or raises
    AssertionError naming `what` after timeout_s seconds."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


def generate_stubs(out_dir):
    """Compiles proto/ with protoc and Debian's grpc_python_plugin into out_dir
    and makes the modules importable. Returns (generation_pb2,
    generation_pb2_grpc, health_pb2, HealthStub)."""
    os.makedirs(out_dir, exist_ok=True)
    proto = os.path.join(REPO, "proto")
    subprocess.run(["protoc", "-I", proto, f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    "llmserve/v1/generation.proto"], check=True)
    subprocess.run(["protoc", "-I", proto, f"--python_out={out_dir}",
                    "grpc/health/v1/health.proto"], check=True)
    sys.path.insert(0, out_dir)
    from llmserve.v1 import generation_pb2, generation_pb2_grpc  # noqa: E402
    # `grpc.health.v1` would shadow the grpc package: load the messages by path.
    spec = importlib.util.spec_from_file_location(
        "llmserve_health_pb2", os.path.join(out_dir, "grpc", "health", "v1", "health_pb2.py"))
    health_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health_pb2)

    class HealthStub:
        """grpc.health.v1.Health/Check on a channel."""

        def __init__(self, channel):
            self.Check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString)
    return generation_pb2, generation_pb2_grpc, health_pb2, HealthStub


class Replica:
    """One llmserve process: gRPC on `port`, Prometheus /metrics on `metrics_port`."""

    def __init__(self, name, binary, model, workdir, extra_args=()):
        self.name = name
        self.binary = binary
        self.model = model
        self.port = free_port()
        self.metrics_port = free_port()
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.extra_args = list(extra_args)
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_target(self):
        return f"127.0.0.1:{self.metrics_port}"

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--model={self.model}", f"--listen={self.address}",
                 f"--metrics-address={self.metrics_target}", "--threads=1", "--drain-timeout=60"]
                + self.extra_args, stdout=log, stderr=subprocess.STDOUT)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout_s):
        """Waits for the process to exit; returns its exit code."""
        return self.proc.wait(timeout=timeout_s)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Nginx:
    """nginx with deploy/nginx/nginx.conf, its listen and upstream addresses
    rewritten to this cluster's ports (everything else is the shipped file)."""

    def __init__(self, workdir, replicas):
        self.port = free_port()
        self.prefix = os.path.join(workdir, "nginx")
        os.makedirs(self.prefix, exist_ok=True)
        os.chmod(self.prefix, 0o755)
        with open(os.path.join(REPO, "deploy", "nginx", "nginx.conf")) as f:
            conf = f.read()
        servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", conf, flags=re.M)
        assert len(servers) == len(replicas), "nginx.conf should list one server per replica"
        for line, replica in zip(servers, replicas):
            conf = conf.replace(line, re.sub(r"127\.0\.0\.1:\d+", replica.address, line), 1)
        conf = re.sub(r"listen 127\.0\.0\.1:\d+", f"listen 127.0.0.1:{self.port}", conf)
        self.conf_path = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        subprocess.run(["nginx", "-t", "-q", "-c", self.conf_path, "-p", self.prefix], check=True)
        with open(os.path.join(self.prefix, "error.log"), "ab") as log:
            self.proc = subprocess.Popen(["nginx", "-c", self.conf_path, "-p", self.prefix,
                                          "-g", "daemon off;"], stderr=log)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def log_tail(self, n=20):
        """The last `n` lines of nginx's error log (warnings and errors)."""
        try:
            with open(os.path.join(self.prefix, "error.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Prometheus:
    """Prometheus scraping the replicas' /metrics every second, with the
    shipped alerting rules loaded; queried through its HTTP API."""

    def __init__(self, workdir, replicas):
        self.port = free_port()
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        rules = os.path.join(REPO, "deploy", "prometheus", "llmserve-rules.yml")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                       "evaluation_interval": "1s"},
            "rule_files": [rules],
            "scrape_configs": [{
                "job_name": "llmserve",
                "static_configs": [{"targets": [r.metrics_target for r in replicas]}],
            }],
        }
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.proc = None

    def start(self):
        with open(os.path.join(self.dir, "log"), "ab") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=subprocess.DEVNULL, stderr=log)
        wait_until(lambda: self._get("/-/ready").status == 200, 60, "Prometheus ready")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def _get(self, path):
        return urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def api(self, path, **params):
        """GET /api/v1/<path>; returns `data` or raises naming Prometheus's error."""
        url = f"/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = json.load(self._get(url))
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus rejected {params}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        """Instant query; returns the result list (vector) of PromQL `expr`."""
        return self.api("query", query=expr)["result"]

    def scalar(self, expr):
        """Value of a single-series instant query, or None when it is empty."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

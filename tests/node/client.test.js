'use strict';
// An independent client: Node's pure-JS gRPC (@grpc/grpc-js, the .proto files
// loaded at run time by @grpc/proto-loader; no gRPC C-core, no generated code of
// the project) drives a real llmserve process serving stories260K on loopback
// ports picked by the kernel. Checked against independent expectations: the
// golden greedy ids of $LLMSERVE_SHARED_DIR/reference/stories260K-greedy.json,
// gRPC status codes, and the server's own /metrics counters and gauges.
//
// Run by tests/node/run.sh (ctest: node_client_test), which passes the binary
// in LLMSERVE_BINARY. The server is stopped (SIGTERM, then SIGKILL) on every
// path; the test writes no files.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const REPO = path.resolve(__dirname, '..', '..');
const SHARED = process.env.LLMSERVE_SHARED_DIR || path.resolve(REPO, '..', 'shared');
const BINARY = process.env.LLMSERVE_BINARY;
const MODEL = path.join(SHARED, 'models', 'stories260K', 'stories260K.bin');
const GOLDEN = JSON.parse(
    fs.readFileSync(path.join(SHARED, 'reference', 'stories260K-greedy.json'), 'utf8')).cases;

// Server flags: a small batch and a short queue, so that 1,000 simultaneous
// streams really overflow the queue (RESOURCE_EXHAUSTED) while the admitted
// ones complete.
const MAX_NUM_SEQS = 8;
const MAX_QUEUED_REQUESTS = 16;
const SERVER_FLAGS = [
  '--threads=1', `--max-num-seqs=${MAX_NUM_SEQS}`,
  `--max-queued-requests=${MAX_QUEUED_REQUESTS}`, '--drain-timeout=10',
];

const packageDefinition = protoLoader.loadSync(
    ['llmserve/v1/generation.proto', 'grpc/health/v1/health.proto'], {
      includeDirs: [path.join(REPO, 'proto')],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
const proto = grpc.loadPackageDefinition(packageDefinition);
const serializeStreamResponse =
    packageDefinition['llmserve.v1.Generation'].GenerateStream.responseSerialize;

/// The golden case of `prompt`.
function goldenCase(prompt) {
  const c = GOLDEN.find((g) => g.prompt === prompt);
  assert.ok(c, `golden case "${prompt}" missing`);
  return c;
}

/// A greedy request for the first `maxTokens` tokens after a golden case's prompt ids.
function greedyRequest(c, maxTokens, extra = {}) {
  return {
    token_ids: { ids: c.prompt_token_ids },
    sampling_params: { temperature: 0, max_tokens: maxTokens, ...extra },
  };
}

/// A Generation client on its own HTTP/2 connection (a local subchannel pool:
/// grpc-js would otherwise share one connection between equal channels).
function generationClient(address, options = {}) {
  return new proto.llmserve.v1.Generation(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1, ...options,
  });
}

function deadlineIn(ms) {
  return new Date(Date.now() + ms);
}

/// A unary Generate: { err, response, ms }.
function generate(client, request, deadlineMs = 60000) {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    client.Generate(request, { deadline: deadlineIn(deadlineMs) }, (err, response) => {
      resolve({ err, response, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

/// Collects a GenerateStream call: resolves { code, details, messages, ids, bytes }
/// once the status arrived and (on OK) the stream ended. `onMessage(call, m)`
/// sees each message as it arrives.
function collectStream(call, onMessage = () => {}) {
  return new Promise((resolve) => {
    const result = { code: null, details: '', messages: [], ids: [], bytes: 0 };
    let ended = false;
    let status = null;
    const settle = () => {
      if (status !== null && (ended || status.code !== grpc.status.OK)) {
        result.code = status.code;
        result.details = status.details;
        resolve(result);
      }
    };
    call.on('data', (m) => {
      result.messages.push(m);
      if (m.index === 0) result.ids.push(...m.token_ids);
      result.bytes += serializeStreamResponse(m).length;
      onMessage(call, m);
    });
    call.on('end', () => { ended = true; settle(); });
    call.on('error', () => {});  // the status event carries the code
    call.on('status', (s) => { status = s; settle(); });
  });
}

/// GET `url`: the body as a string.
function httpGet(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body)
                                                  : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/// The sum of the samples of `name` in a Prometheus text exposition whose
/// labels include `labels`; NaN when there is none.
function metricValue(text, name, labels = {}) {
  let sum = NaN;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[l[1]] = l[2];
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(m[3]);
  }
  return sum;
}

/// The request outcome counters (llmserve_request_success_total and
/// llmserve_request_failure_total, by code / finish_reason) that differ between two scrapes:
/// { 'name{label="value"}': increase }.
function outcomeDeltas(before, after) {
  const samples = (text) => {
    const out = {};
    for (const line of text.split('\n')) {
      const m = /^(llmserve_request_(?:success|failure)_total)\{.*?((?:code|finish_reason)="[^"]*")/
          .exec(line);
      // Summed over the other labels (api="grpc" and api="http").
      const key = m && `${m[1]}{${m[2]}}`;
      if (m) out[key] = (out[key] || 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return out;
  };
  const b = samples(before);
  const deltas = {};
  for (const [key, value] of Object.entries(samples(after))) {
    if (value !== (b[key] || 0)) deltas[key] = value - (b[key] || 0);
  }
  return deltas;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// A running llmserve process with its addresses and the tail of its log.
class ServerProcess {
  /// Starts the binary and waits (bounded) for "serving on" and "metrics on".
  static async start(flags) {
    assert.ok(BINARY, 'LLMSERVE_BINARY is not set (run tests/node/run.sh)');
    assert.ok(fs.existsSync(BINARY), `not built: ${BINARY}`);
    assert.ok(fs.existsSync(MODEL), `model missing: ${MODEL}`);
    const s = new ServerProcess();
    s.log = '';
    s.exit = null;
    s.child = spawn(BINARY, ['--model', MODEL, '--listen', '127.0.0.1:0',
      '--metrics-address', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk) => {
      s.log += chunk;
      if (s.log.length > 1 << 20) s.log = s.log.slice(-(1 << 19));  // keep the tail
    };
    s.child.stdout.setEncoding('utf8').on('data', append);
    s.child.stderr.setEncoding('utf8').on('data', append);
    s.exited = new Promise((resolve) => s.child.on('exit', (code, signal) => {
      s.exit = { code, signal };
      resolve(s.exit);
    }));
    // Last resorts if this process ends without the after hook: an uncaught
    // error exits, a signal (the test runner's, a timeout's) kills.
    s.onExit = () => { if (s.exit === null) s.child.kill('SIGKILL'); };
    s.onSignal = (signal) => {
      s.onExit();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
    };
    process.on('exit', s.onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, s.onSignal);
    for (let waited = 0; waited < 120000; waited += 20) {
      const serving = /serving on (\S+)/.exec(s.log);
      const metrics = /metrics on (\S+)/.exec(s.log);
      if (serving && metrics) {
        s.address = serving[1];
        s.metricsUrl = metrics[1];
        return s;
      }
      if (s.exit !== null) break;
      await sleep(20);
    }
    await s.stop();
    throw new Error(`llmserve did not start (exit ${JSON.stringify(s.exit)}):\n${s.log}`);
  }

  /// SIGTERM (drain), SIGKILL after 30 s; resolves the exit { code, signal }.
  async stop() {
    if (this.exit === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30000);
      await this.exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', this.onExit);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(signal, this.onSignal);
    return this.exit;
  }

  async metrics() {
    return httpGet(this.metricsUrl);
  }

  /// The running / waiting / KV-usage gauges once all three are 0, or their
  /// last values after 30 s.
  async waitForIdleGauges() {
    let g;
    for (let waited = 0; waited < 30000; waited += 50) {
      const text = await this.metrics();
      g = {
        running: metricValue(text, 'llmserve_num_requests_running'),
        waiting: metricValue(text, 'llmserve_num_requests_waiting'),
        kvUsage: metricValue(text, 'llmserve_kv_cache_usage_ratio'),
      };
      if (g.running === 0 && g.waiting === 0 && g.kvUsage === 0) break;
      await sleep(50);
    }
    return g;
  }
}

describe('llmserve through @grpc/grpc-js', () => {
  let server;
  let client;
  const clients = [];
  const newClient = (options) => {
    const c = generationClient(server.address, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await ServerProcess.start(SERVER_FLAGS);
    client = newClient();
  });

  after(async () => {
    for (const c of clients) c.close();
    if (!server) return;
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null },
        `llmserve did not drain and exit 0 on SIGTERM; its log:\n${server.log}`);
  });

  it('answers grpc.health.v1 Check SERVING and describes the model', async () => {
    const health = new proto.grpc.health.v1.Health(server.address,
        grpc.credentials.createInsecure());
    clients.push(health);
    const status = await new Promise((resolve, reject) => health.Check(
        { service: '' }, { deadline: deadlineIn(10000) },
        (err, r) => (err ? reject(err) : resolve(r.status))));
    assert.equal(status, 'SERVING');
    const info = await new Promise((resolve, reject) => client.GetModelInfo(
        {}, { deadline: deadlineIn(10000) }, (err, r) => (err ? reject(err) : resolve(r))));
    assert.equal(info.architecture, 'llama');
    assert.equal(info.vocab_size, 512);
    assert.equal(info.max_num_seqs, MAX_NUM_SEQS);
  });

  it('reproduces the golden greedy ids with unary Generate', async () => {
    for (const c of GOLDEN) {
      const n = c.greedy_completion_token_ids.length;
      const { err, response } = await generate(client, greedyRequest(c, n));
      assert.ifError(err);
      assert.deepEqual(response.token_ids, c.greedy_completion_token_ids, `prompt "${c.prompt}"`);
      assert.equal(response.finish_reason, 'FINISH_REASON_LENGTH');
      assert.equal(response.usage.prompt_tokens, c.prompt_token_ids.length);
      assert.equal(response.usage.completion_tokens, n);
    }
  });

  it('reproduces the golden greedy ids with GenerateStream', async () => {
    for (const c of GOLDEN) {
      const n = c.greedy_completion_token_ids.length;
      const call = client.GenerateStream(greedyRequest(c, n), { deadline: deadlineIn(60000) });
      const r = await collectStream(call);
      assert.equal(r.code, grpc.status.OK, r.details);
      assert.deepEqual(r.ids, c.greedy_completion_token_ids, `prompt "${c.prompt}"`);
      assert.ok(r.messages.length > 1, 'tokens arrive in several messages');
      const last = r.messages[r.messages.length - 1];
      assert.equal(last.finish_reason, 'FINISH_REASON_LENGTH');
      assert.equal(last.usage.completion_tokens, n);
    }
  });

  it('cancels mid-stream: CANCELLED, counted once by the server, which aborts and frees it',
      async () => {
        const metricsBefore = await server.metrics();
        // 8 completions of 500 tokens with 20 logprobs each: seconds of work
        // for the engine, so the cancel after the first message reaches it
        // long before the end.
        const maxTokens = 500;
        const completions = MAX_NUM_SEQS;
        const call = client.GenerateStream(greedyRequest(goldenCase('Once upon a time'), maxTokens,
            { ignore_eos: true, n: completions, logprobs: 20 }), { deadline: deadlineIn(60000) });
        let cancelled = false;
        const r = await collectStream(call, (c) => {
          if (!cancelled) {
            cancelled = true;
            c.cancel();
          }
        });
        assert.equal(r.code, grpc.status.CANCELLED, r.details);
        assert.ok(r.ids.length < maxTokens);
        assert.deepEqual(await server.waitForIdleGauges(), { running: 0, waiting: 0, kvUsage: 0 });
        // The server counts the call once its engine let go of it.
        let metricsAfter;
        let counted;
        for (let waited = 0; waited < 20000; waited += 50) {
          metricsAfter = await server.metrics();
          counted = outcomeDeltas(metricsBefore, metricsAfter);
          if (Object.keys(counted).length > 0) break;
          await sleep(50);
        }
        assert.deepEqual(counted, { 'llmserve_request_failure_total{code="CANCELLED"}': 1 });
        const generated = metricValue(metricsAfter, 'llmserve_generation_tokens_total') -
            metricValue(metricsBefore, 'llmserve_generation_tokens_total');
        assert.ok(generated < completions * maxTokens,
            `the engine generated all ${generated} tokens despite the cancel`);
        console.log(`cancel: the engine stopped after ${generated} of ` +
            `${completions * maxTokens} tokens`);
      });

  it('ends calls with a 20 ms deadline with DEADLINE_EXCEEDED', async () => {
    const request = greedyRequest(goldenCase('Once upon a time'), 500, { ignore_eos: true });
    const unary = await generate(client, request, 20);
    assert.ok(unary.err, 'a 500-token Generate finished within 20 ms');
    assert.equal(unary.err.code, grpc.status.DEADLINE_EXCEEDED, unary.err.details);
    const stream = await collectStream(
        client.GenerateStream(request, { deadline: deadlineIn(20) }));
    assert.equal(stream.code, grpc.status.DEADLINE_EXCEEDED, stream.details);
    assert.ok(stream.ids.length < 500);
    // Sanity (generous): the deadline cut the call short.
    assert.ok(unary.ms < 10000, `unary took ${unary.ms} ms`);
    assert.deepEqual(await server.waitForIdleGauges(), { running: 0, waiting: 0, kvUsage: 0 });
  });

  it('serves 1,000 concurrent streams over 8 channels: each completes or is RESOURCE_EXHAUSTED',
      async () => {
        const metricsBefore = await server.metrics();
        const c = goldenCase('Once upon a time');
        const n = 16;
        const expected = c.greedy_completion_token_ids.slice(0, n);
        const channels = Array.from({ length: 8 }, () => newClient());
        const calls = [];
        for (let i = 0; i < 1000; ++i) {
          const call = channels[i % channels.length].GenerateStream(
              { ...greedyRequest(c, n), request_id: `node-${i}` },
              { deadline: deadlineIn(300000) });
          calls.push(collectStream(call));
        }
        const results = await Promise.all(calls);
        let completed = 0;
        let exhausted = 0;
        const unexpected = [];
        results.forEach((r, i) => {
          if (r.code === grpc.status.OK &&
              JSON.stringify(r.ids) === JSON.stringify(expected) &&
              r.messages[r.messages.length - 1].finish_reason === 'FINISH_REASON_LENGTH') {
            ++completed;
          } else if (r.code === grpc.status.RESOURCE_EXHAUSTED && r.ids.length === 0) {
            ++exhausted;
          } else {
            unexpected.push({ i, code: r.code, details: r.details, ids: r.ids });
          }
        });
        assert.deepEqual(unexpected.slice(0, 5), [], `${unexpected.length} unexpected outcomes`);
        assert.equal(completed + exhausted, 1000);
        // The flags make both outcomes happen: a bounded queue that overflows.
        assert.ok(completed >= MAX_NUM_SEQS, `only ${completed} completed`);
        assert.ok(exhausted > 0, 'the queue never overflowed: the test would prove nothing');
        // The server's counters agree with the client's.
        assert.deepEqual(await server.waitForIdleGauges(), { running: 0, waiting: 0, kvUsage: 0 });
        assert.deepEqual(outcomeDeltas(metricsBefore, await server.metrics()), {
          'llmserve_request_success_total{finish_reason="length"}': completed,
          'llmserve_request_failure_total{code="RESOURCE_EXHAUSTED"}': exhausted,
        });
        console.log(`1,000 streams: ${completed} completed, ${exhausted} RESOURCE_EXHAUSTED`);
      });

  it('a paused reader does not hold up another client beyond the batching cost', async () => {
    const probeCase = goldenCase('Tom and his dog');
    const probe = greedyRequest(probeCase, 32);
    const probeIds = probeCase.greedy_completion_token_ids.slice(0, 32);
    const other = newClient();
    // Unloaded baseline: the fastest of three.
    let baseline = Infinity;
    for (let i = 0; i < 3; ++i) {
      const r = await generate(other, probe);
      assert.ifError(r.err);
      assert.deepEqual(r.response.token_ids, probeIds);
      baseline = Math.min(baseline, r.ms);
    }

    // A stream whose client stops reading after the first message, on its own
    // connection with a 16 KiB flow-control window. With 20 logprobs a token
    // its 500 tokens are far more bytes than the window: the server's writes
    // of it stall.
    const window = 16384;
    const paused = newClient({ 'grpc-node.flow_control_window': window });
    const maxTokens = 500;
    const call = paused.GenerateStream(
        greedyRequest(goldenCase('Once upon a time'), maxTokens, { ignore_eos: true, logprobs: 20 }),
        { deadline: deadlineIn(300000) });
    let firstMessage;
    const gotFirst = new Promise((resolve) => { firstMessage = resolve; });
    let done = false;
    let pausedOnce = false;
    const result = collectStream(call, (c, m) => {
      if (!pausedOnce) {
        pausedOnce = true;
        c.pause();
        firstMessage(m);
      }
    }).then((r) => { done = true; return r; });
    await gotFirst;

    const loaded = await generate(other, probe);
    assert.ifError(loaded.err);
    assert.deepEqual(loaded.response.token_ids, probeIds);
    // Generous: 10x the unloaded time plus 1 s (the noise of a shared machine);
    // a server that waited for the paused reader would not answer until it resumed.
    assert.ok(loaded.ms < 10 * baseline + 1000,
        `with a paused reader ${loaded.ms.toFixed(1)} ms, unloaded ${baseline.toFixed(1)} ms`);

    // The engine finished the paused request and let go of it, while its
    // client still has not read it: the rest waits in the server's stream.
    assert.deepEqual(await server.waitForIdleGauges(), { running: 0, waiting: 0, kvUsage: 0 });
    await sleep(200);
    assert.equal(done, false, 'the paused stream ended although its reader was paused');

    call.resume();
    const r = await result;
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.equal(r.ids.length, maxTokens);
    assert.deepEqual(r.ids.slice(0, 64), goldenCase('Once upon a time').greedy_completion_token_ids.slice(0, 64));
    assert.ok(r.bytes > 4 * window, `the stream carried only ${r.bytes} bytes`);
    console.log(`paused reader: probe ${loaded.ms.toFixed(1)} ms vs ${baseline.toFixed(1)} ms ` +
        `unloaded; the paused stream carried ${r.bytes} bytes`);
  });

  it('ends with the running, waiting and KV-usage gauges back at zero', async () => {
    assert.deepEqual(await server.waitForIdleGauges(), { running: 0, waiting: 0, kvUsage: 0 });
  });
});

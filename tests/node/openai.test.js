'use strict';
// The OpenAI-compatible HTTP front driven by a client no one here wrote: the
// official `openai` npm package (pinned in package-lock.json) against a real
// llmserve process serving stories260K on kernel-picked loopback ports.
// Checked against independent expectations: the golden greedy text of
// $LLMSERVE_SHARED_DIR/reference/stories260K-greedy.json, OpenAI's response
// and chunk shapes, the HTTP statuses of OpenAI's error classes, and a ChatML
// prompt rendered here in JS from the same template (tests/node/chatml.jinja).
//
// Run by tests/node/run-openai.sh (ctest: node_openai_test), which passes the
// binary in LLMSERVE_BINARY. Servers are stopped (SIGTERM, then SIGKILL) on
// every path; the token file is removed.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const OpenAI = require('openai');

const REPO = path.resolve(__dirname, '..', '..');
const SHARED = process.env.LLMSERVE_SHARED_DIR || path.resolve(REPO, '..', 'shared');
const BINARY = process.env.LLMSERVE_BINARY;
const MODEL = path.join(SHARED, 'models', 'stories260K', 'stories260K.bin');
const GOLDEN = JSON.parse(
    fs.readFileSync(path.join(SHARED, 'reference', 'stories260K-greedy.json'), 'utf8')).cases;
const CHAT_TEMPLATE = path.join(__dirname, 'chatml.jinja');
const TOKEN = 'node-openai-test-token';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// A running llmserve with its HTTP base URL.
class ServerProcess {
  static async start(flags) {
    assert.ok(BINARY && fs.existsSync(BINARY), `not built: ${BINARY}`);
    const s = new ServerProcess();
    s.log = '';
    s.exit = null;
    s.child = spawn(BINARY, ['--model', MODEL, '--listen', '127.0.0.1:0', '--metrics-address=',
      '--http-listen', '127.0.0.1:0', '--threads=1', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk) => { s.log = (s.log + chunk).slice(-(1 << 19)); };
    s.child.stdout.setEncoding('utf8').on('data', append);
    s.child.stderr.setEncoding('utf8').on('data', append);
    s.exited = new Promise((resolve) => s.child.on('exit', (code, signal) => {
      s.exit = { code, signal };
      resolve(s.exit);
    }));
    s.onExit = () => { if (s.exit === null) s.child.kill('SIGKILL'); };
    process.on('exit', s.onExit);
    for (let waited = 0; waited < 120000 && s.exit === null; waited += 20) {
      const m = /HTTP API on (http:\/\/\S+)/.exec(s.log);
      if (m) {
        s.baseURL = m[1];
        return s;
      }
      await sleep(20);
    }
    await s.stop();
    throw new Error(`llmserve did not start (exit ${JSON.stringify(s.exit)}):\n${s.log}`);
  }

  async stop() {
    if (this.exit === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30000);
      await this.exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', this.onExit);
    return this.exit;
  }

  // A connection per request: on Debian's Node.js 18 (make test-image's fresh root) the
  // SDK's node-fetch 2.7 reports "Premature close" for streams sent on a reused keep-alive
  // socket (Node.js 20 passes either way): node-fetch/node-fetch#1767, a false positive of its
  // chunked-ending check on agent-reused sockets (docs/http-api.md); keep-alive itself is
  // tested by http_server_test.
  client(options = {}) {
    return new OpenAI({ baseURL: this.baseURL, apiKey: TOKEN, maxRetries: 0,
                        httpAgent: new http.Agent({ keepAlive: false }), ...options });
  }
}

/// The golden greedy completion of a case: its number of tokens and its text.
function golden(c) {
  assert.ok(c.text.startsWith(c.prompt));
  return { tokens: c.greedy_completion_token_ids.length, text: c.text.slice(c.prompt.length) };
}

/// `status` of a rejected SDK call (an OpenAI.APIError).
async function errorOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    return e;
  }
  assert.fail('the call succeeded');
}

describe('openai npm client against llmserve\'s HTTP API', () => {
  let server;
  let tokenDir;
  let client;
  before(async () => {
    tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmserve-openai-'));
    fs.writeFileSync(path.join(tokenDir, 'token'), `${TOKEN}\n`);
    server = await ServerProcess.start([
      `--auth-token-file=${path.join(tokenDir, 'token')}`, '--max-request-bytes=65536',
      '--max-num-seqs=1', '--max-queued-requests=1', '--drain-timeout=10']);
    client = server.client();
  });
  after(async () => {
    if (server) {
      const exit = await server.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, server.log);
    }
    fs.rmSync(tokenDir, { recursive: true, force: true });
  });

  it('lists the model', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['stories260K']);
  });

  it('greedy completions equal the golden text, streamed or not', async () => {
    for (const c of GOLDEN) {
      const want = golden(c);
      const request = {
        model: 'stories260K', prompt: c.prompt, max_tokens: want.tokens, temperature: 0,
        ignore_eos: true,  // vLLM's extension: run.c's golden run stops on BOS only
      };
      const response = await client.completions.create(request);
      assert.equal(response.object, 'text_completion');
      assert.equal(response.choices[0].text, want.text, `prompt ${JSON.stringify(c.prompt)}`);
      assert.equal(response.choices[0].finish_reason, 'length');
      assert.equal(response.usage.prompt_tokens, c.prompt_token_ids.length);
      assert.equal(response.usage.completion_tokens, want.tokens);
      assert.equal(response.usage.total_tokens, c.prompt_token_ids.length + want.tokens);

      const stream = await client.completions.create(
          { ...request, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage = null;
      let finish = null;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          text += choice.text;
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
      assert.equal(text, want.text);
      assert.equal(finish, 'length');
      assert.equal(usage.completion_tokens, want.tokens);
    }
  });

  it('token-id prompts, n, logprobs and stop', async () => {
    const c = GOLDEN[1];
    const response = await client.completions.create({
      model: 'stories260K', prompt: c.prompt_token_ids, max_tokens: 5, temperature: 0, n: 3,
      logprobs: 2,
    });
    assert.equal(response.choices.length, 3);
    const want = golden(c).text;
    for (const [i, choice] of response.choices.entries()) {
      assert.equal(choice.index, i);
      assert.ok(want.startsWith(choice.text), choice.text);
      assert.equal(choice.logprobs.tokens.join(''), choice.text);
      assert.equal(choice.logprobs.token_logprobs.length, 5);
      for (const [j, top] of choice.logprobs.top_logprobs.entries()) {
        assert.equal(Object.keys(top).length, 2);
        // Greedy: the chosen token is the most likely.
        assert.equal(Math.max(...Object.values(top)), choice.logprobs.token_logprobs[j]);
      }
    }
    assert.equal(response.usage.completion_tokens, 15);

    const stopped = await client.completions.create({
      model: 'stories260K', prompt: c.prompt, max_tokens: 50, temperature: 0, stop: ['Lily'],
    });
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.equal(stopped.choices[0].text, want.slice(0, want.indexOf('Lily')));
  });

  it('response_format json_schema gives JSON with the required keys', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
      required: ['name', 'age'],
      additionalProperties: false,
    };
    const response = await client.completions.create({
      model: 'stories260K', prompt: 'The answer as JSON:', max_tokens: 120, temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    const choice = response.choices[0];
    assert.equal(choice.finish_reason, 'stop', choice.text);
    const value = JSON.parse(choice.text);
    assert.equal(typeof value, 'object');
    assert.deepEqual(Object.keys(value).sort(), ['age', 'name']);
    assert.equal(typeof value.name, 'string');
    assert.ok(Number.isInteger(value.age), choice.text);

    const bad = await errorOf(client.completions.create({
      model: 'stories260K', prompt: 'Once',
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer', multipleOf: 3 } } },
    }));
    assert.equal(bad.status, 400);
    assert.match(bad.message, /response_format\.json_schema\.schema: unsupported keyword 'multipleOf'/);
    assert.equal(bad.param, 'response_format.json_schema.schema');
  });

  it('answers each error class with its status', async () => {
    const bad = await errorOf(client.completions.create(
        { model: 'stories260K', prompt: 'Once', top_p: 0 }));
    assert.equal(bad.status, 400);
    assert.ok(bad instanceof OpenAI.BadRequestError);
    assert.match(bad.message, /sampling_params\.top_p must be in \(0, 1\], got 0/);
    assert.equal(bad.param, 'top_p');

    const unauthorized = await errorOf(server.client({ apiKey: 'wrong' }).completions.create(
        { model: 'stories260K', prompt: 'Once' }));
    assert.equal(unauthorized.status, 401);
    assert.ok(unauthorized instanceof OpenAI.AuthenticationError);

    const notFound = await errorOf(client.completions.create({ model: 'gpt-4o', prompt: 'Once' }));
    assert.equal(notFound.status, 404);
    assert.ok(notFound instanceof OpenAI.NotFoundError);

    const tooLarge = await errorOf(client.completions.create(
        { model: 'stories260K', prompt: 'a'.repeat(100000) }));
    assert.equal(tooLarge.status, 413);

    const noTemplate = await errorOf(client.chat.completions.create(
        { model: 'stories260K', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(noTemplate.status, 400);
    assert.match(noTemplate.message, /no chat template/);

    // One sequence runs, one waits (--max-queued-requests=1): the others are 429.
    const long = { model: 'stories260K', prompt: 'Once', max_tokens: 400, ignore_eos: true };
    const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => client.completions.create(long)));
    const statuses = results.map((r) => (r.status === 'fulfilled' ? 200 : r.reason.status));
    assert.ok(statuses.includes(429), JSON.stringify(statuses));
    assert.ok(statuses.includes(200), JSON.stringify(statuses));
    assert.ok(statuses.every((s) => s === 200 || s === 429), JSON.stringify(statuses));
    const limited = results.find((r) => r.status === 'rejected').reason;
    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.headers['retry-after'], '1');
  });
});

/// The ChatML template of chatml.jinja, rendered here (the reference).
function renderChatML(messages) {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') +
      '<|im_start|>assistant\n';
}

describe('chat completions with --chat-template', () => {
  let server;
  let client;
  before(async () => {
    server = await ServerProcess.start([`--chat-template=${CHAT_TEMPLATE}`]);
    client = server.client({ apiKey: 'unused' });
  });
  after(async () => {
    if (server) {
      const exit = await server.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, server.log);
    }
  });

  it('renders the template and streams OpenAI chat chunks', async () => {
    const messages = [
      { role: 'system', content: 'You tell stories.' },
      { role: 'user', content: 'Once upon a time' },
    ];
    const request = { model: 'stories260K', messages, max_tokens: 12, temperature: 0 };
    const response = await client.chat.completions.create(request);
    assert.equal(response.object, 'chat.completion');
    assert.equal(response.choices[0].message.role, 'assistant');
    assert.equal(response.choices[0].finish_reason, 'length');
    assert.equal(response.usage.completion_tokens, 12);
    // The prompt is the ChatML rendering: as many tokens as that text without BOS.
    const reference = await client.completions.create(
        { model: 'stories260K', prompt: renderChatML(messages), max_tokens: 1 });
    assert.equal(response.usage.prompt_tokens, reference.usage.prompt_tokens - 1);

    const stream = await client.chat.completions.create(
        { ...request, stream: true, stream_options: { include_usage: true }, logprobs: true,
          top_logprobs: 1 });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks[chunks.length - 1];
    assert.equal(last.choices.length, 0);
    assert.equal(last.usage.completion_tokens, 12);
    const finish = chunks[chunks.length - 2].choices[0];
    assert.equal(finish.finish_reason, 'length');
    const content = chunks.slice(1, -2).map((c) => c.choices[0].delta.content).join('');
    assert.equal(content, response.choices[0].message.content);
    const tokens = chunks.slice(1, -2).flatMap((c) => c.choices[0].logprobs.content);
    assert.equal(tokens.length, 12);
    assert.equal(tokens.map((t) => t.token).join(''), content);
  });
});

// Shared by the AWS IoT Device SDK v2 scripts that test/devcloud_devicesdk_test.go
// runs against devcloud. The MQTT 3.1.1 scripts build their connection
// exactly as the SDK's classic samples do (AwsIotMqttConnectionConfigBuilder's
// mTLS builder, MqttClient, the SDK's defaults); mqtt5.js builds the MQTT 5
// client the newer samples use. Each changes only the endpoint, the port and
// the CA file, and prints what happens as JSON lines on stdout.
'use strict';

const { mqtt, iot } = require('aws-iot-device-sdk-v2');
const readline = require('readline');

// args parses --name value pairs.
function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      fail(`bad argument ${argv[i]}: want --name value pairs (--endpoint, --port, --cert, --key, --ca, --thing, --client-id)`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['endpoint', 'port', 'cert', 'key', 'ca', 'thing']) {
    if (!out[need]) fail(`--${need} is required`);
  }
  out['client-id'] = out['client-id'] || out.thing;
  return out;
}

// emit prints one JSON line.
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(message) {
  emit({ event: 'error', message: String(message) });
  process.exit(1);
}

// connection builds the sample's connection: the mTLS builder from the
// certificate and key paths (which sets ALPN x-amzn-mqtt-ca itself), the CA
// file, the endpoint and the port; everything else as the SDK defaults it.
function connection(a) {
  const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(a.cert, a.key);
  builder.with_certificate_authority_from_path(undefined, a.ca);
  builder.with_clean_session(false);
  builder.with_client_id(a['client-id']);
  builder.with_endpoint(a.endpoint);
  builder.with_port(Number(a.port));
  const client = new mqtt.MqttClient();
  return client.new_connection(builder.build());
}

// Inbox collects the messages handlers receive, by key, for a script that
// waits for them one at a time.
class Inbox {
  constructor() {
    this.items = new Map();
    this.waiters = new Map();
  }

  push(key, value) {
    const waiting = this.waiters.get(key) || [];
    for (let i = 0; i < waiting.length; i++) {
      if (waiting[i].match(value)) {
        const [w] = waiting.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(value);
        return;
      }
    }
    if (!this.items.has(key)) this.items.set(key, []);
    this.items.get(key).push(value);
  }

  // next resolves with the first value under key that match accepts
  // (values it does not accept are dropped), or rejects after ms.
  next(key, match = () => true, ms = 20000) {
    const queued = this.items.get(key) || [];
    while (queued.length > 0) {
      const v = queued.shift();
      if (match(v)) return Promise.resolve(v);
    }
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      w.timer = setTimeout(() => {
        const list = this.waiters.get(key);
        list.splice(list.indexOf(w), 1);
        reject(new Error(`nothing on ${key} within ${ms} ms`));
      }, ms);
      if (!this.waiters.has(key)) this.waiters.set(key, []);
      this.waiters.get(key).push(w);
    });
  }
}

// answerer returns the handler factory the classic service clients'
// accepted/rejected subscriptions take: each answer lands in inbox under op.
function answerer(inbox) {
  return (op, accepted) => (error, response) => inbox.push(op, { accepted, error: error && String(error), response });
}

// requester returns request(op, publish, req): it publishes req with a new
// client token through a classic service client's publish method, waits for
// the answer under op that carries that token (an HTTP shadow update's
// accepted document carries none), prints it and returns it.
function requester(inbox, qos) {
  let n = 0;
  return async (op, publish, req) => {
    const clientToken = `${op}-${++n}`;
    await publish({ ...req, clientToken }, qos);
    const got = await inbox.next(op, (v) => v.response && v.response.clientToken === clientToken);
    emit({ event: op, clientToken, ...got });
    return got;
  };
}

// stdinLines yields the lines the Go test writes, one await at a time: the
// script's way to wait for the test's side to act.
function stdinLines() {
  const rl = readline.createInterface({ input: process.stdin });
  const it = rl[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    if (r.done) fail('stdin closed while waiting for the test');
    return r.value;
  };
}

// main runs fn and exits 0, or prints the error and exits 1.
function main(fn) {
  fn().then(() => process.exit(0), (err) => fail(err && err.stack ? err.stack : err));
}

module.exports = { args, emit, fail, connection, Inbox, answerer, requester, stdinLines, main, mqtt };

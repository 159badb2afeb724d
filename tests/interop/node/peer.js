// Node.js WebSocket peer (the `ws` package) for tests/interop/test_node.py.
//
//   node peer.js client URL [CA_FILE]
//                             connect to a picows server, run the exchange below,
//                             print one JSON line with the results, exit 0 if all passed;
//                             for a wss:// URL, trust only the CA in CA_FILE (and verify)
//   node peer.js server [CERT_FILE KEY_FILE]
//                             listen on 127.0.0.1 (free port), print {"port": N}; for the
//                             one connection: greet (text, fragmented binary, ping), echo
//                             whole messages, record pings/pongs, print the results when
//                             the connection closes, exit 0; with a certificate and key,
//                             over TLS (wss://), reporting the TLS version it negotiated
//
// Everything is bounded: the process exits by itself after DEADLINE_MS.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const WebSocket = require('ws');

const DEADLINE_MS = 60000;
const OPTIONS = { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 };

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  emit({ ok: false, error: String(msg) });
  process.exit(1);
}

setTimeout(() => fail('deadline exceeded'), DEADLINE_MS).unref();

function nextEvent(ws, name, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event`)), timeoutMs);
    ws.once(name, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

function same(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

async function runClient(url, caFile) {
  const tls = caFile ? { ca: fs.readFileSync(caFile), rejectUnauthorized: true } : {};
  const ws = new WebSocket(url, { ...OPTIONS, ...tls });
  ws.on('error', (err) => fail(err));
  await nextEvent(ws, 'open');
  const steps = [];
  async function roundtrip(name, data, isBinary, sendParts) {
    const reply = nextEvent(ws, 'message');
    if (sendParts) {
      sendParts.forEach((part, i) => ws.send(part, { binary: isBinary, fin: i === sendParts.length - 1 }));
    } else {
      ws.send(data, { binary: isBinary });
    }
    const [echo, echoIsBinary] = await reply;
    if (echoIsBinary !== isBinary || !same(echo, data)) {
      throw new Error(`${name}: echo differs (binary=${echoIsBinary}, ${echo.length} bytes)`);
    }
    steps.push(name);
  }
  await roundtrip('text', 'hello from node \u2713', false);
  await roundtrip('binary', crypto.randomBytes(256), true);
  await roundtrip('empty', Buffer.alloc(0), true);
  const parts = ['frag1 ', 'frag2 \u00e9 ', 'frag3'];
  await roundtrip('fragmented-text', parts.join(''), false, parts);
  const big = crypto.randomBytes(1536 * 1024);
  await roundtrip('fragmented-binary-1.5MiB', big, true, [big.subarray(0, 1000), big.subarray(1000, 700000), big.subarray(700000)]);
  await roundtrip('binary-1.5MiB', big, true);
  await roundtrip('text-1MiB', 'x\u00e9'.repeat(349525) + 'end', false);
  const pong = nextEvent(ws, 'pong');
  ws.ping(Buffer.from('ping from node'));
  const [pongData] = await pong;
  if (!same(pongData, Buffer.from('ping from node'))) throw new Error('pong payload differs');
  steps.push('ping-pong');
  const closed = nextEvent(ws, 'close');
  ws.close(4000, 'bye from node');
  const [code, reason] = await closed;
  emit({ ok: true, steps, close_code: code, close_reason: reason.toString() });
  process.exit(0);
}

function runServer(certFile, keyFile) {
  let wss;
  if (certFile) {
    const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) });
    wss = new WebSocket.Server({ server, ...OPTIONS });
    server.listen(0, '127.0.0.1', () => emit({ port: server.address().port }));
  } else {
    wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, ...OPTIONS });
    wss.on('listening', () => emit({ port: wss.address().port }));
  }
  wss.on('connection', (ws, req) => {
    const tlsVersion = req.socket.getProtocol ? req.socket.getProtocol() : null;
    const seen = { messages: [], pings: [], pongs: [], headers: req.headers, tls_version: tlsVersion };
    ws.on('message', (data, isBinary) => {
      seen.messages.push({ binary: isBinary, size: data.length, sha1: crypto.createHash('sha1').update(data).digest('hex') });
      ws.send(data, { binary: isBinary });  // echo the whole message
    });
    ws.on('ping', (data) => seen.pings.push(data.toString()));  // ws answers with a pong itself
    ws.on('pong', (data) => seen.pongs.push(data.toString()));
    ws.on('close', (code, reason) => {
      emit({ ok: true, event: 'closed', close_code: code, close_reason: reason.toString(), ...seen });
      wss.close();
      process.exit(0);
    });
    ws.on('error', (err) => fail(err));
    // greet: a text, a binary message in three fragments, a ping
    ws.send('hello from node \u2713');
    ws.send(Buffer.from('AAA'), { binary: true, fin: false });
    ws.send(Buffer.from('BBB'), { binary: true, fin: false });
    ws.send(Buffer.from('CCC'), { binary: true, fin: true });
    ws.ping(Buffer.from('ping from node'));
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'client') {
  runClient(args[0], args[1]).catch(fail);
} else if (mode === 'server') {
  runServer(args[0], args[1]);
} else {
  fail(`usage: node peer.js client URL [CA_FILE] | server [CERT_FILE KEY_FILE] (got ${mode})`);
}

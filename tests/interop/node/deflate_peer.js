// Node.js `ws` peer with permessage-deflate on, for tests/interop/test_deflate_interop.py.
//
//   node deflate_peer.js client URL   connect (offering permessage-deflate), echo-check compressible
//                                     messages of several sizes, whole and fragmented, print one JSON
//                                     line with the negotiated extension, exit 0 if all passed
//   node deflate_peer.js server       listen on 127.0.0.1 (free port), print {"port": N}; echo every
//                                     whole message of the one connection (compressed), print the
//                                     offer, the answer and the message count when it closes, exit 0
//
// Everything is bounded: the process exits by itself after DEADLINE_MS.
'use strict';

const WebSocket = require('ws');

const DEADLINE_MS = 60000;
// threshold 0: ws compresses every message, so each one exercises both inflaters.
const OPTIONS = { perMessageDeflate: { threshold: 0 }, maxPayload: 64 * 1024 * 1024 };

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

function compressible(size) {
  const parts = [];
  let total = 0;
  for (let i = 0; total < size; i++) {
    const part = `{"id": ${i}, "price": ${(i * 7) % 1000}.5, "side": "${i % 2 ? 'buy' : 'sell'}"}, `;
    parts.push(part);
    total += part.length;
  }
  return parts.join('').slice(0, size);
}

async function runClient(url) {
  const ws = new WebSocket(url, OPTIONS);
  await nextEvent(ws, 'open');
  const steps = [];
  async function roundtrip(name, data, isBinary, parts) {
    const reply = nextEvent(ws, 'message');
    if (parts) {
      parts.forEach((part, i) => ws.send(part, { binary: isBinary, fin: i === parts.length - 1 }));
    } else {
      ws.send(data, { binary: isBinary });
    }
    const [echo, echoIsBinary] = await reply;
    if (echoIsBinary !== isBinary || Buffer.compare(Buffer.from(echo), Buffer.from(data)) !== 0) {
      throw new Error(`${name}: echo differs (binary=${echoIsBinary}, ${echo.length} bytes)`);
    }
    steps.push(name);
  }
  for (const size of [0, 10, 256, 8192, 102400, 1048576]) {
    await roundtrip(`text-${size}`, compressible(size), false);
    await roundtrip(`binary-${size}`, Buffer.from(compressible(size)), true);
  }
  const big = compressible(300000);
  await roundtrip('fragmented', big, false, [big.slice(0, 1000), big.slice(1000, 200000), big.slice(200000)]);
  const closed = nextEvent(ws, 'close');
  ws.close(1000, 'done');
  await closed;
  emit({ ok: true, steps, extensions: ws.extensions });
  process.exit(0);
}

function runServer() {
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, ...OPTIONS });
  wss.on('listening', () => emit({ port: wss.address().port }));
  wss.on('connection', (ws, req) => {
    let messages = 0;
    ws.on('message', (data, isBinary) => {
      messages += 1;
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code) => {
      emit({
        ok: true, close_code: code, messages,
        offer: req.headers['sec-websocket-extensions'] || null, answer: ws.extensions,
      });
      wss.close();
      process.exit(0);
    });
    ws.on('error', (err) => fail(err));
  });
}

const [mode, url] = process.argv.slice(2);
if (mode === 'client') {
  runClient(url).catch(fail);
} else if (mode === 'server') {
  runServer();
} else {
  fail(`usage: node deflate_peer.js client URL | server (got ${mode})`);
}

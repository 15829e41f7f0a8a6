// The baseline relay: a bare `ws` server that forwards frames without parsing or storing them.
// A client connects to /send/K or /recv/K; every frame from /send/K goes verbatim to /recv/K
// and the sender gets a constant acknowledgement (so both relays see the same client windows).
// Prints its URL on the first stdout line. Started by scripts/bench/relay.mjs.
import { WebSocketServer } from 'ws';

const recv = new Map();
const ACK = '{"v":1,"t":"accepted"}';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const [, role, key] = (req.url ?? '').split('/');
  if (role === 'recv') {
    recv.set(key, ws);
    ws.on('close', () => recv.delete(key));
    ws.send('{"v":1,"t":"ok"}');
    return;
  }
  ws.on('message', (data, isBinary) => {
    recv.get(key)?.send(data, { binary: isBinary });
    ws.send(ACK);
  });
  ws.send('{"v":1,"t":"ok"}');
});
wss.on('listening', () => console.log(`ws://127.0.0.1:${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));

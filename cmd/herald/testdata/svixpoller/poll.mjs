// Reads a Herald polling endpoint with the official Svix SDK and prints
// what the SDK decoded, as JSON, for cmd/herald's poller test.
// Usage: node poll.mjs <poll|consumer|seek> <server-url> <token> <app> <sink> [consumer]
import { Svix } from "svix";

const [mode, serverUrl, token, app, sink, consumer] = process.argv.slice(2);
const svix = new Svix(token, { serverUrl });
const poller = svix.message.poller;

let out;
switch (mode) {
  case "poll":
    out = await poller.poll(app, sink, { limit: 50 });
    break;
  case "consumer":
    out = await poller.consumerPoll(app, sink, consumer, { limit: 50 });
    break;
  case "seek":
    out = await poller.consumerSeek(app, sink, consumer, { after: new Date(0) });
    console.log(JSON.stringify({ iterator: out.iterator }));
    process.exit(0);
  default:
    throw new Error(`unknown mode ${mode}`);
}
for (const m of out.data) {
  if (!(m.timestamp instanceof Date) || Number.isNaN(m.timestamp.getTime())) {
    throw new Error(`message ${m.id}: timestamp did not decode: ${m.timestamp}`);
  }
}
console.log(JSON.stringify({
  messages: out.data.map((m) => ({ id: m.id, eventType: m.eventType, payload: m.payload })),
  iterator: out.iterator,
  done: out.done,
}));

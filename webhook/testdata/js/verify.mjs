// verify.mjs checks one webhook with the official Standard Webhooks
// JavaScript library. It reads {"secret", "headers", "body"} as JSON on
// standard input (body in base64, so the bytes arrive unchanged) and exits
// 0 when the signature verifies, 1 when it does not.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) {
  input += chunk;
}

try {
  const { secret, headers, body } = JSON.parse(input);
  const payload = Buffer.from(body, "base64");
  new Webhook(secret).verify(payload, headers, { jsonParse: false });
  console.log("signature valid");
  process.exit(0);
} catch (err) {
  console.log(`signature invalid: ${err.message}`);
  process.exit(1);
}

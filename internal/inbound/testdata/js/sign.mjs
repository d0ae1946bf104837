// sign.mjs signs a webhook payload with a provider's official library and
// prints the request headers the provider would send, as one JSON object.
//
//   node sign.mjs <provider> <secret> <payload> [unix-timestamp] [message-id]
//
// provider is stripe, github or standard-webhooks. The timestamp defaults
// to now; the message id (standard-webhooks only) defaults to msg_test.
// Install the pinned libraries first: npm ci --prefix internal/inbound/testdata/js

const [provider, secret, payload, tsArg, idArg] = process.argv.slice(2);
if (!provider || secret === undefined || payload === undefined) {
  console.error("usage: node sign.mjs <provider> <secret> <payload> [unix-timestamp] [message-id]");
  process.exit(2);
}
const timestamp = tsArg ? Number.parseInt(tsArg, 10) : Math.floor(Date.now() / 1000);

async function headers() {
  switch (provider) {
    case "stripe": {
      const { default: Stripe } = await import("stripe");
      const stripe = new Stripe("sk_test_unused");
      const header = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
      return { "Stripe-Signature": header };
    }
    case "github": {
      const { sign } = await import("@octokit/webhooks-methods");
      return { "X-Hub-Signature-256": await sign(secret, payload) };
    }
    case "standard-webhooks": {
      const { Webhook } = await import("standardwebhooks");
      const id = idArg || "msg_test";
      const signature = new Webhook(secret).sign(id, new Date(timestamp * 1000), payload);
      return {
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      };
    }
    default:
      throw new Error(`unknown provider ${provider}`);
  }
}

try {
  process.stdout.write(JSON.stringify(await headers()) + "\n");
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

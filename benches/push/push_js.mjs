// Push one message to every connection id in a file with the AWS SDK for JavaScript v3,
// Promise.all over batches of 64, as a Node team would write it.
//   node push_js.mjs ENDPOINT IDS_FILE
import { readFileSync } from "node:fs";
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

const [endpoint, idsFile] = process.argv.slice(2);
const ids = readFileSync(idsFile, "utf8").split("\n").filter(Boolean);
const client = new ApiGatewayManagementApiClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
});
const payload = new TextEncoder().encode(JSON.stringify({ type: "heartbeat" }));
let delivered = 0;
let failed = 0;
for (let i = 0; i < ids.length; i += 64) {
  const batch = ids.slice(i, i + 64);
  const results = await Promise.allSettled(
    batch.map((id) => client.send(new PostToConnectionCommand({ ConnectionId: id, Data: payload }))),
  );
  for (const r of results) {
    if (r.status === "fulfilled") delivered++;
    else failed++;
  }
}
console.log(JSON.stringify({ delivered, failed }));

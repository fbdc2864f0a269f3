/**
 * Where a page that the test can't drive (Firefox runs without WebDriver) reports what it verified: an HTTP
 * server on 127.0.0.1 that resolves `report` with the first JSON body POSTed to it.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Reporter<T> {
  /** The URL the page POSTs its report to (any origin may: the page is served from another port). */
  readonly url: string;
  /** The first report POSTed. */
  readonly report: Promise<T>;
  close(): Promise<void>;
}

export async function startReporter<T>(): Promise<Reporter<T>> {
  let deliver: (report: T) => void = () => {};
  const report = new Promise<T>((resolve) => {
    deliver = resolve;
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.writeHead(204, { "access-control-allow-origin": "*" }).end();
      if (req.method === "POST") deliver(JSON.parse(Buffer.concat(chunks).toString("utf8")) as T);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
    report,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Serves a built page directory on one or more loopback ports, each port its
// own browser origin: the bridge allows one of them by CORS and not another.
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const args = process.argv.slice(2);
const dir = path.resolve(args[args.indexOf("--dir") + 1]);
const ports = [];
args.forEach((a, i) => a === "--port" && ports.push(Number(args[i + 1])));

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

function handler(req, res) {
  const url = new URL(req.url, "http://localhost");
  let rel = decodeURIComponent(url.pathname);
  if (rel.endsWith("/")) rel += "index.html";
  const file = path.join(dir, path.normalize(rel));
  if (!file.startsWith(dir + path.sep)) {
    res.writeHead(403).end();
    return;
  }
  let st;
  try {
    st = statSync(file);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if (!st.isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    "content-type": types[path.extname(file)] ?? "application/octet-stream",
    "content-length": st.size,
    "cache-control": "no-store",
  });
  createReadStream(file).pipe(res);
}

const servers = ports.map((p) =>
  http.createServer(handler).listen(p, "127.0.0.1", () => console.error(`serving ${dir} on 127.0.0.1:${p}`)),
);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    servers.forEach((s) => s.close());
    process.exit(0);
  });
}

// A client of the Omkijken sync protocol, written from docs/protocol.md and docs/schemas/
// alone (no Omkijken code), with Automerge's JavaScript library: it enrolls a device, pushes
// a signal, catches up, reads what its user may read and logs those reads.
//
//   node client.mjs enroll <server> <code> <creds.json>
//   node client.mjs push-signal <server> <creds.json> <pupil> <facts>
//   node client.mjs forge-follow-up <server> <creds.json> <pupil> <other user>
//   node client.mjs catch-up <server> <creds.json>
//
// <server> is ws://host:port (or wss://). Each command prints one JSON line with what
// happened; an `error` frame or a timeout ends it with exit code 1.

import * as A from "@automerge/automerge";
import bs58 from "bs58";
import { Encoder } from "cbor-x";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const schemas = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "schemas");
const hex = (bytes) => Buffer.from(bytes).toString("hex");

// ---- frames over a WebSocket: one CBOR map per binary message ----

class Session {
  static open(url, token) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const ws = new WebSocket(url, { headers });
    ws.binaryType = "nodebuffer";
    const s = new Session(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(s));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiting = null;
    ws.on("message", (data) => {
      this.queue.push(cbor.decode(data));
      this.wake();
    });
    ws.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  wake() {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }

  send(frame) {
    this.ws.send(cbor.encode(frame));
  }

  // The next frame (an `error` frame throws), within `ms`.
  async next(ms = 10000) {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.closed) throw new Error("the server closed the connection");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no answer in time");
      await new Promise((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, left);
      });
    }
    const f = this.queue.shift();
    if (f.type === "error") throw new Error(`error frame: ${f.code}: ${f.message}`);
    return f;
  }

  close() {
    this.ws.close();
  }
}

// ---- documents as docs/schemas describes them ----

const schemaFiles = new Map();
function schemaFile(name) {
  if (!schemaFiles.has(name)) {
    schemaFiles.set(name, JSON.parse(readFileSync(join(schemas, name), "utf8")));
  }
  return schemaFiles.get(name);
}

// `$ref`: `other.schema.json`, `#/$defs/name` or `other.schema.json#/$defs/name`.
function resolve(file, schema) {
  const ref = schema.$ref;
  if (!ref) return [file, schema];
  const [target, fragment = ""] = ref.split("#");
  const name = target || file;
  const root = schemaFile(name);
  const def = fragment.startsWith("/$defs/") ? root.$defs[fragment.slice(7)] : root;
  return resolve(name, def);
}

// A plain JSON value as Automerge should hold it: a string is a scalar (ImmutableString)
// unless the schema marks it `x-automerge: text`; numbers stay numbers (Automerge writes
// whole numbers as `int`, which the server reads for `uint` fields too).
function shaped(value, file, schema) {
  const [f, s] = resolve(file, schema);
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((v) => shaped(v, f, s.items));
  if (typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const child = (s.properties && s.properties[k]) || s.additionalProperties;
      if (!child || child === true) throw new Error(`${f}: no field ${k}`);
      out[k] = shaped(v, f, child);
    }
    return out;
  }
  if (typeof value === "string" && s["x-automerge"] !== "text") return new A.ImmutableString(value);
  return value;
}

function newDocument(kind, root, actor) {
  const file = `${kind}.schema.json`;
  return A.from(shaped(root, file, schemaFile(file)), { actor });
}

// A plain value read back from Automerge (scalars and texts as strings).
// (Automerge's JavaScript library reads a `uint` as a BigInt.)
const plain = (v) =>
  JSON.parse(
    JSON.stringify(v, (_k, x) => {
      return A.isImmutableString(x) ? x.toString() : typeof x === "bigint" ? Number(x) : x;
    }),
  );

// ---- the protocol ----

async function enroll(server, code) {
  const actor = hex(randomBytes(16));
  const s = await Session.open(`${server}/v1/enroll`);
  s.send({ type: "enroll", code, actor, label: "JS example client" });
  const f = await s.next();
  s.close();
  if (f.type !== "enrolled") throw new Error(`unexpected ${f.type}`);
  return { token: f.token, school: f.school, user: f.user, device: f.device, actor };
}

// hello, then catalog frames until `complete`.
async function hello(s, cursor = 0) {
  s.send({ type: "hello", protocol: 1, cursor });
  const entries = [];
  const purge = [];
  for (;;) {
    const f = await s.next();
    if (f.type !== "catalog") continue; // (a live push may come in between)
    entries.push(...f.entries);
    purge.push(...f.purge);
    if (f.complete) return { entries, purge, cursor: f.cursor, epoch: f.epoch };
  }
}

// Push documents; the answer for each is its acknowledged heads or the refusal's reason.
async function push(s, docs) {
  s.send({ type: "push", docs: docs.map(([documentId, doc]) => ({ documentId, data: A.save(doc) })) });
  const verdicts = new Map();
  while (verdicts.size < docs.length) {
    const f = await s.next();
    if (f.type === "ack") for (const d of f.docs) verdicts.set(d.documentId, { ack: d.heads });
    if (f.type === "refused") for (const d of f.docs) verdicts.set(d.documentId, { refused: d.reason });
  }
  return verdicts;
}

// Fetch whole documents (no heads held).
async function fetchAll(s, ids) {
  s.send({ type: "fetch", docs: ids.map((documentId) => ({ documentId, have: [] })) });
  const docs = new Map();
  while (docs.size < ids.length) {
    const f = await s.next();
    if (f.type !== "docs") continue;
    for (const d of f.docs) docs.set(d.documentId, A.load(new Uint8Array(d.data)));
  }
  return docs;
}

function signal(creds, pupil, facts, followUps = []) {
  const now = Date.now();
  return {
    header: { kind: "signal", school: creds.school, pupil, author: creds.user, created_at: now, schema: 1 },
    record: {
      observed_at: now - 60 * 60 * 1000,
      recorded_at: now,
      context: { place: "schoolplein", excursion: null },
      category: "welbevinden",
      urgency: 2,
      facts,
      interpretation: null,
      source: { kind: "seen", told_by: null },
      pupil_quote: null,
      flag: null,
      shared: true,
      follow_ups: followUps,
      added_readers: [],
    },
  };
}

const newId = () => bs58.encode(randomBytes(16));

async function main([command, server, ...args]) {
  switch (command) {
    case "enroll": {
      const [code, credsFile] = args;
      const creds = await enroll(server, code);
      writeFileSync(credsFile, JSON.stringify(creds));
      return { enrolled: true, user: creds.user, school: creds.school, device: creds.device };
    }
    case "push-signal":
    case "forge-follow-up": {
      const [credsFile, pupil, arg] = args;
      const creds = JSON.parse(readFileSync(credsFile, "utf8"));
      const followUps =
        command === "forge-follow-up"
          ? [{ id: newId(), author: arg, at: Date.now(), kind: "picked_up", text: "Opgepakt." }]
          : [];
      const facts = command === "push-signal" ? arg : "Een signaal met een vervalste opvolging.";
      const id = newId();
      const doc = newDocument("signal", signal(creds, pupil, facts, followUps), creds.actor);
      const s = await Session.open(`${server}/v1/sync`, creds.token);
      await hello(s);
      const verdict = (await push(s, [[id, doc]])).get(id);
      s.close();
      return { documentId: id, ...verdict };
    }
    case "catch-up": {
      const [credsFile] = args;
      const creds = JSON.parse(readFileSync(credsFile, "utf8"));
      const s = await Session.open(`${server}/v1/sync`, creds.token);
      const catalog = await hello(s);
      const docs = await fetchAll(
        s,
        catalog.entries.map((e) => e.documentId),
      );
      const signals = [];
      const entries = [];
      let seq = 0;
      for (const e of catalog.entries) {
        const d = plain(docs.get(e.documentId));
        if (d.header.kind !== "signal") continue;
        signals.push({ documentId: e.documentId, author: d.header.author, facts: d.record.facts });
        // Reads of care content are logged: {seq, documentId, kind, at}.
        // (cbor-x writes a number above 32 bits as a float; the protocol's integers are
        // CBOR integers, so times go as BigInt.)
        entries.push({ seq: ++seq, documentId: e.documentId, kind: "signal", at: BigInt(Date.now()) });
      }
      let logAck = null;
      if (entries.length > 0) {
        s.send({ type: "readLog", entries });
        for (;;) {
          const f = await s.next();
          if (f.type === "logAck") {
            logAck = f.seq;
            break;
          }
        }
      }
      s.close();
      const kinds = catalog.entries.map((e) => e.header.kind).sort();
      return plain({ cursor: catalog.cursor, kinds, signals, logAck });
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (out) => {
    console.log(JSON.stringify(out));
    process.exit(0);
  },
  (e) => {
    console.error(`client: ${e.message}`);
    process.exit(1);
  },
);

// An app built on automerge-repo 2.5.6 (JavaScript) with its stock WebSocket client adapter,
// against Omkijken's automerge-repo compatibility endpoint (docs/protocol.md, "automerge-repo
// compatibility"). Run by tests/tests/automerge_repo_interop.rs (scripts/automerge-repo-interop.sh):
//
//   node client.mjs <server ws://host:port> <creds.json> <readable id> <forbidden id> <pupil> <facts>
//
// creds.json: {token, actor, school, user} of an enrolled device. Ids are automerge-repo
// document ids. It prints one JSON line per step:
//   1. {read, forbidden, unknown}: the readable signal's facts and author; "unavailable" for
//      the other two (a document the user may not read, one that does not exist);
//   2. {created, serverHasIt, corrected}: the automerge-repo id of a signal it wrote, once
//      the server reported holding its heads, and of a correction it added to it later;
//   then it waits for a note to the signaller on that signal, written by someone else on a
//   native device, and prints
//   3. {live: [texts of the follow-ups by others]}.

import { Repo, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import * as A from "@automerge/automerge";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const [server, credsFile, readableId, forbiddenId, pupil, facts] = process.argv.slice(2);
const creds = JSON.parse(readFileSync(credsFile, "utf8"));
const SERVER_STORAGE_ID = "omkijken-sync-server";

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);

// The stock adapter cannot set headers; in Node its WebSocket library sends URL credentials
// as `Authorization: Basic`, whose password the server takes as the device token.
const url = new URL(`${server}/v1/automerge-repo`);
url.username = "device";
url.password = creds.token;
const adapter = new WebSocketClientAdapter(url.toString(), 60_000);
const repo = new Repo({ network: [adapter] });

// A plain value with every string immutable (the signal schema has no text fields) and
// whole numbers as numbers (Automerge writes them as `int`).
const shaped = (v) =>
  v === null ? null
  : Array.isArray(v) ? v.map(shaped)
  : typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shaped(x)]))
  : typeof v === "string" ? new A.ImmutableString(v)
  : v;
const plain = (v) =>
  JSON.parse(JSON.stringify(v, (_k, x) => (A.isImmutableString(x) ? x.toString() : typeof x === "bigint" ? Number(x) : x)));

// `find` settles with the document, or throws once every peer said `doc-unavailable`.
async function find(id) {
  try {
    const handle = await withTimeout(repo.find(`automerge:${id}`), 20_000, "find");
    return plain(handle.doc());
  } catch (e) {
    if (/unavailable/i.test(String(e.message))) return "unavailable";
    throw e;
  }
}

async function main() {
  await withTimeout(adapter.whenReady(), 20_000, "connect");
  const read = await find(readableId);
  const forbidden = await find(forbiddenId);
  // An automerge-repo id nobody used (a fresh URL; no document is made for it).
  const unknown = await find(parseAutomergeUrl(generateAutomergeUrl()).documentId);
  console.log(JSON.stringify({
    read: read === "unavailable" ? read : { facts: read.record.facts, author: read.header.author },
    forbidden,
    unknown,
  }));

  // A new signal: its changes must carry the device's actor (or a session actor: the
  // registered 16 bytes plus up to 16 more), so it is built with that actor and imported;
  // `repo.import` gives it a fresh automerge-repo id and announces it to the server.
  const actor = creds.actor + randomBytes(8).toString("hex");
  const now = Date.now();
  const doc = A.from(shaped({
    header: { kind: "signal", school: creds.school, pupil, author: creds.user, created_at: now, schema: 1 },
    record: {
      observed_at: now - 3_600_000, recorded_at: now,
      context: { place: "gymzaal", excursion: null },
      category: "welbevinden", urgency: 1, facts,
      interpretation: null, source: { kind: "seen", told_by: null },
      pupil_quote: null, flag: null, shared: true, follow_ups: [], added_readers: [],
    },
  }), { actor });
  const handle = repo.import(A.save(doc));
  // The server reports the heads it holds (committed) under its storage id.
  const heads = handle.heads();
  const same = (a, b) => a && b && a.length === b.length && a.every((h) => b.includes(h));
  await withTimeout(new Promise((resolve) => {
    const check = () => same(handle.getSyncInfo(SERVER_STORAGE_ID)?.lastHeads, heads) && resolve();
    handle.on("remote-heads", check);
    check();
  }), 20_000, "the server to hold the signal");

  // A later edit: the handle's document gets the device's actor (a fresh session suffix)
  // before the change, or the server refuses it. The author may add a correction; the
  // original facts stay as they are (a shared signal is append-only).
  handle.update((d) => A.clone(d, { actor: creds.actor + randomBytes(8).toString("hex") }));
  handle.change((d) => {
    d.record.follow_ups.push(shaped({
      id: randomBytes(8).toString("hex"), author: creds.user, at: Date.now(),
      kind: "correction", text: "Het was in de gymzaal, niet op het plein.",
    }));
  });
  const corrected = handle.heads();
  await withTimeout(new Promise((resolve) => {
    const check = () => same(handle.getSyncInfo(SERVER_STORAGE_ID)?.lastHeads, corrected) && resolve();
    handle.on("remote-heads", check);
    check();
  }), 20_000, "the server to hold the correction");
  console.log(JSON.stringify({ created: handle.documentId, serverHasIt: true, corrected: true }));

  // Someone answers on a native device; the change arrives live.
  const texts = await withTimeout(new Promise((resolve) => {
    const check = () => {
      const others = plain(handle.doc()).record.follow_ups.filter((f) => f.author !== creds.user);
      if (others.length > 0) resolve(others.map((f) => f.text));
    };
    handle.on("change", check);
    check();
  }), 60_000, "a live change");
  console.log(JSON.stringify({ live: texts }));
}

main().then(
  () => {
    adapter.disconnect();
    process.exit(0);
  },
  (e) => {
    console.error(`automerge-repo client: ${e.message}`);
    process.exit(1);
  },
);

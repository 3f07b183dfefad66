// The labeling page: fetches batches, preloads the next one while the current one is shown,
// hands each unit of work to the task module, posts answers, and never reloads the page.
// Practice items (a new volunteer's qualification) wait for the answer's result and show the right answer.
import { fmt, gettext, ngettext } from "../annotate/i18n.js";
import { csrfToken, newSubmissionId, request } from "./label_api.js";
import { showPractice } from "./label_practice.js";
import * as verify from "./label_verify.js";
import * as classify from "./label_classify.js";
import * as boxes from "./label_boxes.js";

const config = JSON.parse(document.getElementById("label-config").textContent);
const modules = { verify, classify, boxes };
const task = modules[config.taskType];
const root = document.getElementById("task");
const statusEl = document.getElementById("label-status");
const submitBtn = document.getElementById("submit-btn");
const skipBtn = document.getElementById("skip-btn");

let batch = null; // the batch on screen
let units = []; // verify: one unit (the grid); classify/boxes: one item per unit
let unitIndex = 0;
let view = null; // the mounted task view
let shownAt = 0;
let nextBatch = null; // promise of the preloaded batch
let pending = Promise.resolve(); // answer posts in flight (the next fetch waits for them)
let preloaded = null; // the last batch the server leased to this page (released on pagehide)
const answered = new Set(); // item ids answered or skipped here (their posts may still be in flight)

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

function setProgress(progress) {
  if (!progress) return;
  document.getElementById("progress-today").textContent = progress.today;
  document.getElementById("progress-total").textContent = progress.total;
}

function preloadImages(data) {
  for (const item of data.items || []) {
    const img = new Image();
    img.src = task.imageUrl(item);
  }
}

// A blocked volunteer is told why by the page itself (the server renders the reason and the appeal form).
function blockedReload(code) {
  if (code !== "annotator_blocked") return false;
  window.location.reload();
  return true;
}

async function fetchBatch(excludeIds) {
  const params = new URLSearchParams({ n: String(config.batch) });
  if (excludeIds.length) params.set("exclude", excludeIds.join(","));
  const res = await request(`${config.nextUrl}?${params}`);
  if (!res.ok && blockedReload(res.data.code)) return new Promise(() => {});
  if (res.ok) preloaded = res.data;
  if (!res.ok) throw new Error(res.data.detail || fmt(gettext("Could not load work (%(status)s)."), { status: res.status }));
  preloadImages(res.data);
  return res.data;
}

function preloadAfter(idsOnScreen) {
  // Wait for posts in flight so the server no longer counts those items as held by us.
  nextBatch = pending.then(() => fetchBatch(idsOnScreen));
  nextBatch.catch(() => {}); // reported when used
}

function showEmpty() {
  if (view) view.destroy();
  view = null;
  root.replaceChildren();
  const p = document.createElement("p");
  p.className = "empty";
  p.dataset.testid = "no-work";
  p.textContent = `${gettext("No more items for you right now — thank you!")} `;
  const again = document.createElement("button");
  again.type = "button";
  again.className = "secondary";
  again.textContent = gettext("Check again");
  again.addEventListener("click", () => start());
  p.append(again);
  root.append(p);
  submitBtn.disabled = true;
  skipBtn.disabled = true;
}

function showBatch(data) {
  batch = data;
  setProgress(data.progress);
  if (!data.items.length) {
    showEmpty();
    return;
  }
  units = config.taskType === "verify" ? [data.items] : data.items.map((item) => [item]);
  unitIndex = 0;
  showUnit();
  preloadAfter(data.items.map((item) => item.id));
}

function showUnit() {
  if (view) view.destroy();
  submitBtn.disabled = false;
  skipBtn.disabled = false;
  view = task.mount(root, units[unitIndex], batch, { submit, skip });
  shownAt = performance.now();
}

async function advance() {
  unitIndex += 1;
  if (unitIndex < units.length) {
    showUnit();
    return;
  }
  try {
    showBatch(await nextBatch);
  } catch (err) {
    say(err.message, true);
    showEmpty();
  }
}

// Resolves with the per-answer results (null when the post failed).
function post(answers) {
  const body = { answers };
  const p = pending.then(async () => {
    try {
      const res = await request(config.answersUrl, { method: "POST", body });
      setProgress(res.data.progress);
      const failed = (res.data.results || []).filter((r) => !r.ok);
      if (failed.some((r) => r.code === "annotator_blocked") || blockedReload(res.data.code)) {
        blockedReload("annotator_blocked");
        return res.data.results || [];
      }
      if (!res.ok && !failed.length) say(res.data.detail || fmt(gettext("Could not save (%(status)s)."), { status: res.status }), true);
      else if (failed.length) {
        const text = ngettext("%(n)s answer not saved: %(detail)s", "%(n)s answers not saved: %(detail)s", failed.length);
        say(fmt(text, { n: failed.length, detail: failed[0].detail }), true);
      } else say(fmt(ngettext("Saved %(n)s answer.", "Saved %(n)s answers.", answers.length), { n: answers.length }));
      return res.data.results || [];
    } catch (err) {
      const text = gettext("Could not save your answers (%(error)s); they will not be lost if you submit again.");
      say(fmt(text, { error: err.message }), true);
      return null;
    }
  });
  pending = p;
  return p;
}

async function submit() {
  if (!view || submitBtn.disabled) return;
  const spent = Math.round(performance.now() - shownAt);
  const answers = view.answers();
  if (!answers) return; // the module refused (e.g. nothing picked yet)
  const client = { ua: navigator.userAgent.slice(0, 200), w: window.innerWidth, h: window.innerHeight };
  const per = Math.round(spent / Math.max(1, answers.length));
  const sent = answers.map((a) => ({ ...a, submission_id: newSubmissionId(), time_spent_ms: per, client_info: client }));
  for (const a of sent) answered.add(a.item_id);
  const posted = post(sent);
  const unit = units[unitIndex];
  if (!unit.some((item) => item.practice)) {
    advance(); // regular work never waits for the server
    return;
  }
  submitBtn.disabled = true;
  skipBtn.disabled = true;
  view.destroy();
  view = null; // the page's shortcuts are off while the feedback is shown
  say(gettext("Checking your answer…"));
  const results = await posted;
  if (results) await showPractice(root, { taskType: config.taskType, items: unit, answers: sent, results, batch });
  advance();
}

function skip() {
  if (!view || skipBtn.disabled) return;
  const ids = units[unitIndex].map((item) => item.id);
  for (const id of ids) answered.add(id);
  pending = pending.then(() =>
    Promise.all(ids.map((id) => request(config.skipUrl, { method: "POST", body: { item_id: id } }))).catch(() => {}),
  );
  say(gettext("Skipped."));
  advance();
}

document.addEventListener("keydown", (event) => {
  if (!view || event.altKey || event.metaKey) return;
  if (view.onKey && view.onKey(event)) return;
  const typing = event.target.closest && event.target.closest("input, textarea, select");
  if (event.key === "Enter" && !typing && !event.ctrlKey) {
    event.preventDefault();
    submit();
  } else if ((event.key === "s" || event.key === "S") && !typing && !event.ctrlKey) {
    event.preventDefault();
    skip();
  }
});
submitBtn.addEventListener("click", () => submit());
skipBtn.addEventListener("click", () => skip());

async function start() {
  say("");
  try {
    showBatch(await fetchBatch(batch ? batch.items.map((i) => i.id) : []));
  } catch (err) {
    say(err.message, true);
  }
}

// Closing or leaving the tab gives its items back at once (instead of holding them for the lease's TTL): the
// batch on screen and the preloaded one. sendBeacon survives the unload; the form body carries the CSRF token.
window.addEventListener("pagehide", () => {
  const ids = new Set();
  for (const data of [batch, preloaded]) for (const item of (data && data.items) || []) if (!answered.has(item.id)) ids.add(item.id);
  if (!ids.size || !navigator.sendBeacon) return;
  const form = new FormData();
  form.append("ids", Array.from(ids).join(","));
  form.append("csrfmiddlewaretoken", csrfToken());
  navigator.sendBeacon(config.releaseUrl, form);
});

window.annotateLabelPage = { loadedAt: Date.now() }; // survives while the page is never reloaded
start();

// Practice feedback: after answering a practice (qualification) item, show whether the answer was right and
// the right answer, then wait for the volunteer: any key (Enter included) or the Continue button goes on.
// Only answers whose result carries `feedback` are shown; the server sends it for practice items only.

import { fmt, gettext, ngettext } from "../annotate/i18n.js";
import { toBox } from "./box_editor.js";

const SVG = "http://www.w3.org/2000/svg";
const IGNORED_KEYS = new Set(["Shift", "Control", "Alt", "Meta", "Tab", "CapsLock"]);

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function describe(taskType, answer, batch) {
  if (taskType === "verify") {
    const name = (batch.category && batch.category.name) || gettext("the category");
    return fmt(answer.label === 1 ? gettext("yes, it shows %(name)s") : gettext("no %(name)s"), { name });
  }
  if (taskType === "classify") {
    if (answer.category === null || answer.category === undefined) return gettext("none / unsure");
    const found = (batch.categories || []).find((c) => c.id === answer.category);
    return found ? found.name : fmt(gettext("category %(id)s"), { id: answer.category });
  }
  const n = (answer.boxes || []).length;
  return n === 0 ? gettext("nothing to draw") : fmt(ngettext("%(n)s box", "%(n)s boxes", n), { n });
}

function picture(taskType, item, given, expected) {
  if (taskType !== "boxes") {
    const url = taskType === "verify" ? item.thumbnail_url : item.image_url;
    return el("img", { src: url, alt: gettext("The practice image"), className: "practice-image" });
  }
  const svg = svgEl("svg", { viewBox: `0 0 ${item.width} ${item.height}`, class: "practice-stage", role: "img",
    "aria-label": gettext("Your boxes in blue, the expected boxes in green") });
  svg.style.aspectRatio = `${item.width} / ${item.height}`;
  svg.append(svgEl("image", { href: item.image_url, x: 0, y: 0, width: item.width, height: item.height }));
  for (const { x, y, w, h } of (given.boxes || []).map(toBox)) svg.append(svgEl("rect", { x, y, width: w, height: h, class: "box" }));
  for (const { x, y, w, h } of (expected.boxes || []).map(toBox)) {
    svg.append(svgEl("rect", { x, y, width: w, height: h, class: "box expected" }));
  }
  return svg;
}

// Resolves when the volunteer continues. `answers`: what was sent; `results`: the server's results.
export function showPractice(root, { taskType, items, answers, results, batch }) {
  const byItem = new Map(results.filter((r) => r.ok && r.feedback).map((r) => [r.item_id, r.feedback]));
  const sent = new Map(answers.map((a) => [a.item_id, a.answer]));
  const shown = items.filter((item) => byItem.has(item.id));
  if (!shown.length) return Promise.resolve();
  const right = shown.filter((item) => byItem.get(item.id).correct).length;
  const cards = shown.map((item) => {
    const fb = byItem.get(item.id);
    const card = el("figure", { className: `practice-card ${fb.correct ? "right" : "wrong"}` });
    card.dataset.testid = "practice-card";
    card.dataset.correct = String(fb.correct);
    const caption = el("figcaption", {}, [
      el("strong", { textContent: fb.correct ? gettext("✓ Right") : gettext("✗ Not quite") }),
      el("br"),
      fmt(gettext("Your answer: %(answer)s"), { answer: describe(taskType, sent.get(item.id) || {}, batch) }),
      el("br"),
      `${gettext("Right answer:")} `,
      el("strong", { className: "practice-expected", textContent: describe(taskType, fb.expected, batch) }),
    ]);
    card.append(picture(taskType, item, sent.get(item.id) || {}, fb.expected), caption);
    return card;
  });
  const title = el("h2", { id: "practice-title", textContent: fmt(gettext("Practice: %(right)s of %(total)s right"), { right, total: shown.length }) });
  const note = el("p", { className: "muted", textContent: gettext("New volunteers start with a few practice images whose answer we know.") });
  const button = el("button", { type: "button", id: "practice-continue" }, [`${gettext("Continue")} `, el("kbd", { textContent: gettext("any key") })]);
  button.dataset.testid = "practice-continue";
  const panel = el("section", { className: "practice", tabIndex: -1 }, [title, note, el("div", { className: "practice-cards" }, cards), button]);
  panel.dataset.testid = "practice-feedback";
  panel.setAttribute("role", "status");
  panel.setAttribute("aria-labelledby", "practice-title");
  root.replaceChildren(panel);
  button.focus();
  return new Promise((resolve) => {
    function done(event) {
      if (event.type === "keydown" && (event.repeat || IGNORED_KEYS.has(event.key))) return;
      event.preventDefault();
      event.stopPropagation();
      document.removeEventListener("keydown", done, true);
      button.removeEventListener("click", done);
      root.replaceChildren();
      resolve();
    }
    document.addEventListener("keydown", done, true); // capture: the page's own shortcuts never see this key
    button.addEventListener("click", done);
  });
}

// Curation browser: keyboard selection on the item grid, and zoom on the item page. No dependencies.
// Grid keys: J/K or arrows move, X (or space) toggles the current tile, Shift+A selects all on the page, Enter opens.
// Item page: Z (or the button, or a click on the image) toggles full-resolution zoom.

import { fmt, gettext, ngettext } from "../annotate/i18n.js";

const typing = (e) => e.target.closest("input:not([type=checkbox]), select, textarea, button");

function grid() {
  const tiles = [...document.querySelectorAll("[data-testid=curation-tile]")];
  const count = document.querySelector("[data-testid=selected-count]");
  if (!tiles.length) return;
  let current = 0;
  const box = (t) => t.querySelector("input[type=checkbox]");
  const refresh = () => {
    tiles.forEach((t, i) => {
      t.classList.toggle("current", i === current);
      t.classList.toggle("selected", box(t).checked);
    });
    const n = tiles.filter((t) => box(t).checked).length;
    if (count) count.textContent = n ? fmt(ngettext("%(n)s selected", "%(n)s selected", n), { n }) : "";
  };
  const move = (d) => {
    current = Math.max(0, Math.min(tiles.length - 1, current + d));
    tiles[current].scrollIntoView({ block: "nearest" });
    refresh();
  };
  const perRow = () => {
    const top = tiles[0].offsetTop;
    const n = tiles.findIndex((t) => t.offsetTop !== top);
    return n > 0 ? n : tiles.length;
  };
  tiles.forEach((t, i) => {
    box(t).addEventListener("change", () => { current = i; refresh(); });
  });
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === "j" || k === "ArrowRight") move(1);
    else if (k === "k" || k === "ArrowLeft") move(-1);
    else if (k === "ArrowDown") move(perRow());
    else if (k === "ArrowUp") move(-perRow());
    else if (k === "x" || k === " ") { const b = box(tiles[current]); b.checked = !b.checked; refresh(); }
    else if (k === "A") { const all = !tiles.every((t) => box(t).checked); tiles.forEach((t) => { box(t).checked = all; }); refresh(); }
    else if (k === "Enter") tiles[current].querySelector("a.tile-link").click();
    else return;
    e.preventDefault();
  });
  refresh();
}

function zoom() {
  const fig = document.querySelector("[data-testid=item-zoom]");
  if (!fig) return;
  const button = fig.querySelector(".zoom-toggle");
  const toggle = () => {
    const on = fig.classList.toggle("zoomed");
    button.setAttribute("aria-pressed", String(on));
  };
  button.addEventListener("click", toggle);
  fig.querySelector("img").addEventListener("click", toggle);
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "z") { toggle(); e.preventDefault(); }
  });
}

async function similar() {
  // The nearest images by pretrained embedding (training API), shown on the item page when they exist.
  const section = document.querySelector("[data-similar-url]");
  if (!section) return;
  const list = section.querySelector("[data-testid=item-similar-grid]");
  const none = section.querySelector("[data-testid=item-similar-none]");
  let hits = [];
  try {
    const res = await fetch(section.dataset.similarUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.ok) hits = await res.json();
  } catch (err) { hits = []; }
  for (const hit of hits) {
    const li = document.createElement("li");
    li.className = "tile";
    const a = document.createElement("a");
    a.href = hit.item_url;
    const img = document.createElement("img");
    img.src = hit.thumbnail_url;
    img.alt = fmt(gettext("Item %(id)s"), { id: hit.item });
    img.loading = "lazy";
    img.width = 120;
    img.height = 120;
    a.append(img);
    const score = document.createElement("span");
    score.className = "muted";
    score.textContent = `#${hit.item} · ${hit.score.toFixed(2)}`;
    li.append(a, score);
    list.append(li);
  }
  none.hidden = hits.length > 0;
  section.dataset.loaded = "true";
}

grid();
zoom();
similar();

// verify: a grid of thumbnails of one category; toggle the ones that contain it (click, or arrows + space).
// Unselected = "no". Enter (handled by the page) submits the whole grid.
// Every tile starts as "no" on purpose: a default "yes" would turn a careless submit into votes for the crawl's
// guess. When most candidates do show the category, A marks all as "yes" and I inverts the grid (then unmark the
// few that don't), so a mostly-yes grid is still two or three keys.

import { fmt, gettext } from "../annotate/i18n.js";

export const imageUrl = (item) => item.thumbnail_url;

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function header(category) {
  const head = el("div", { className: "verify-head" });
  // The question is translated whole, with the category name (never translated) quoted in its strong element:
  // "Does this image show “eight”?" reads right for any name (a noun, a number, a plural), no article needed.
  const [before, after] = gettext("Does this image show “%(category)s”?").split("%(category)s");
  const q = el("h2", { id: "verify-question" }, [before, el("strong", { textContent: category.name }), after || ""]);
  head.append(q);
  if (category.definition) head.append(el("p", { className: "definition", textContent: category.definition }));
  if (category.examples && category.examples.length) {
    const ex = el("div", { className: "examples", ariaLabel: gettext("Example images") });
    ex.setAttribute("role", "group");
    ex.setAttribute("aria-label", fmt(gettext("Examples of %(category)s"), { category: category.name }));
    for (const url of category.examples) ex.append(el("img", { src: url, alt: fmt(gettext("Example of %(category)s"), { category: category.name }) }));
    head.append(ex);
  }
  return head;
}

function columns(tiles) {
  if (!tiles.length) return 1;
  const top = tiles[0].offsetTop;
  let n = 0;
  while (n < tiles.length && tiles[n].offsetTop === top) n++;
  return Math.max(1, n);
}

export function mount(root, items, batch, ctx) {
  const category = batch.category || { name: gettext("the category"), definition: "" };
  const grid = el("div", { className: "verify-grid" });
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-labelledby", "verify-question");
  const tiles = items.map((item, i) => {
    const tile = el("button", { type: "button", className: "tile" });
    tile.dataset.itemId = item.id;
    tile.dataset.testid = "tile";
    tile.setAttribute("aria-pressed", "false");
    tile.append(el("img", { src: item.thumbnail_url, alt: fmt(gettext("Image %(n)s of %(total)s"), { n: i + 1, total: items.length }), draggable: false }));
    tile.addEventListener("click", () => {
      tile.setAttribute("aria-pressed", tile.getAttribute("aria-pressed") === "true" ? "false" : "true");
    });
    return tile;
  });
  grid.append(...tiles);
  const setAll = (fn) => tiles.forEach((t) => t.setAttribute("aria-pressed", String(fn(t.getAttribute("aria-pressed") === "true"))));
  const allYes = el("button", { type: "button", className: "secondary" }, [el("kbd", { textContent: "A" }), ` ${gettext("All yes")}`]);
  allYes.dataset.testid = "verify-all-yes";
  allYes.addEventListener("click", () => setAll(() => true));
  const invert = el("button", { type: "button", className: "secondary" }, [el("kbd", { textContent: "I" }), ` ${gettext("Invert")}`]);
  invert.dataset.testid = "verify-invert";
  invert.addEventListener("click", () => setAll((on) => !on));
  const tools = el("div", { className: "verify-tools" }, [allYes, invert]);
  root.replaceChildren(header(category), tools, grid);
  tiles[0].focus();

  function onKey(event) {
    const idx = tiles.indexOf(document.activeElement);
    const cols = columns(tiles);
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
    if (event.key in moves) {
      event.preventDefault();
      const from = idx < 0 ? 0 : idx;
      const to = Math.min(tiles.length - 1, Math.max(0, from + (idx < 0 ? 0 : moves[event.key])));
      tiles[to].focus();
      return true;
    }
    if (!event.ctrlKey && (event.key === "a" || event.key === "A")) {
      event.preventDefault();
      setAll(() => true);
      return true;
    }
    if (!event.ctrlKey && (event.key === "i" || event.key === "I")) {
      event.preventDefault();
      setAll((on) => !on);
      return true;
    }
    if (event.key === " " && idx < 0) {
      event.preventDefault(); // space outside the grid: start at the first tile
      tiles[0].focus();
      return true;
    }
    return false; // space on a tile is the button's own click; Enter submits (page)
  }

  return {
    onKey,
    answers: () =>
      tiles.map((tile) => ({
        item_id: Number(tile.dataset.itemId),
        answer: { label: tile.getAttribute("aria-pressed") === "true" ? 1 : 0 },
      })),
    destroy: () => root.replaceChildren(),
  };
}
